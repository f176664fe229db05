//===- PipelineTest.cpp - Per-rank bubble, measured and predicted ---------===//
//
// Small runtime-style traces whose bubbles are worked out by hand.
//
//===----------------------------------------------------------------------===//

#include "passes/Profile/Pipeline.h"

#include <gtest/gtest.h>

using namespace pipeweave::profile;

namespace {

constexpr Nanoseconds us = 1000;

Trace parse(std::string_view json) {
  Trace trace;
  std::optional<TraceError> error = parseTrace(json, trace);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return trace;
}

// Rank 0: step [0,20); kernels [0,10.5) and [12.25,20) on stream 0 and
// [5,8) on stream 1 (inside the first): busy 10.5 + 7.75 = 18.25, bubble
// 1.75, ratio 0.0875. The send [10,10.625) is not compute.
// Rank 1 (pid 1, listed first in the file): step [0,21.7); one kernel
// [11.2,21.7): busy 10.5, bubble 11.2, ratio 11.2 / 21.7.
constexpr const char *kTwoRanks = R"json({"traceEvents":[
{"ph":"M","pid":1,"name":"process_name","args":{"name":"rank 1"}},
{"ph":"X","pid":1,"tid":0,"ts":11.2,"dur":10.5,"name":"f","cat":"kernel"},
{"ph":"X","pid":1,"tid":2,"ts":0,"dur":21.7,"name":"step 0","cat":"step"},
{"ph":"M","pid":0,"name":"process_name","args":{"name":"rank 0"}},
{"ph":"X","pid":0,"tid":0,"ts":0,"dur":10.5,"name":"f","cat":"kernel"},
{"ph":"X","pid":0,"tid":1,"ts":5,"dur":3,"name":"g","cat":"kernel"},
{"ph":"X","pid":0,"tid":0,"ts":12.25,"dur":7.75,"name":"f","cat":"kernel"},
{"ph":"X","pid":0,"tid":3,"ts":10,"dur":0.625,"name":"send","cat":"transfer"},
{"ph":"X","pid":0,"tid":2,"ts":0,"dur":20,"name":"step 0","cat":"step"}
]})json";

TEST(PipelineTest, BubblePerRankFromStepSlices) {
  Trace trace = parse(kTwoRanks);
  EXPECT_EQ(trace.events[1].kind, EventKind::Step); // cat "step"
  PipelineView view = analysePipeline(trace);
  ASSERT_EQ(view.ranks.size(), 2u);
  const RankPipeline &r0 = view.ranks[0];
  EXPECT_EQ(r0.rank, 0);
  EXPECT_TRUE(r0.spanFromSteps);
  EXPECT_EQ(r0.steps, 1);
  EXPECT_EQ(r0.kernels, 3);
  EXPECT_EQ(r0.span(), 20 * us);
  EXPECT_EQ(r0.busy, 18250);
  EXPECT_EQ(r0.bubble(), 1750);
  EXPECT_DOUBLE_EQ(*r0.bubbleRatio(), 0.0875);
  const RankPipeline &r1 = view.ranks[1];
  EXPECT_EQ(r1.rank, 1);
  EXPECT_EQ(r1.span(), 21700);
  EXPECT_EQ(r1.busy, 10500);
  EXPECT_EQ(r1.bubble(), 11200);
  EXPECT_DOUBLE_EQ(*r1.bubbleRatio(), 11200.0 / 21700.0);
  EXPECT_EQ(view.maxSpan(), 21700);
}

// Without step slices the span runs from the first kernel start to the
// last kernel end: [2,4) and [7,10) span 8, busy 5, bubble 3. A kernel
// sticking out of a step slice is clipped: step [0,10), kernel [8,14)
// counts 2 of busy, bubble 8.
TEST(PipelineTest, SpanFromKernelsAndClippedBusy) {
  Trace trace = parse(R"json([
{"ph":"X","pid":4,"tid":0,"ts":7,"dur":3,"name":"k","cat":"kernel"},
{"ph":"X","pid":4,"tid":0,"ts":2,"dur":2,"name":"k","cat":"kernel"},
{"ph":"X","pid":5,"tid":1,"ts":0,"dur":10,"name":"step 0","cat":"step"},
{"ph":"X","pid":5,"tid":0,"ts":8,"dur":6,"name":"k","cat":"kernel"},
{"ph":"X","pid":6,"tid":0,"ts":0,"dur":6,"name":"send","cat":"transfer"}
])json");
  PipelineView view = analysePipeline(trace);
  ASSERT_EQ(view.ranks.size(), 2u); // pid 6 has no kernels or steps
  EXPECT_EQ(view.ranks[0].rank, 4);
  EXPECT_FALSE(view.ranks[0].spanFromSteps);
  EXPECT_EQ(view.ranks[0].start, 2 * us);
  EXPECT_EQ(view.ranks[0].span(), 8 * us);
  EXPECT_EQ(view.ranks[0].busy, 5 * us);
  EXPECT_EQ(view.ranks[0].bubble(), 3 * us);
  EXPECT_EQ(view.ranks[1].rank, 5);
  EXPECT_EQ(view.ranks[1].span(), 10 * us);
  EXPECT_EQ(view.ranks[1].busy, 2 * us);
  EXPECT_EQ(view.ranks[1].bubble(), 8 * us);
}

TEST(PipelineTest, EmptySpanHasNoRatio) {
  Trace trace = parse(R"json([
{"ph":"X","pid":0,"tid":0,"ts":3,"dur":0,"name":"k","cat":"kernel"}])json");
  PipelineView view = analysePipeline(trace);
  ASSERT_EQ(view.ranks.size(), 1u);
  EXPECT_EQ(view.ranks[0].span(), 0);
  EXPECT_FALSE(view.ranks[0].bubbleRatio());
}

// Predicted: makespan 10 units; rank 0 ratio 0.1, rank 1 ratio 0.5 (given
// in the report's order 1, 0). Measured max span 21.7 us -> 2.17 us/unit;
// differences 0.0875 - 0.1 = -0.0125 and 11.2/21.7 - 0.5.
TEST(PipelineTest, ComparesByRankNumber) {
  Trace trace = parse(kTwoRanks);
  PipelineView view = analysePipeline(trace);
  PredictedReport report;
  report.makespan = 10;
  report.ranks = {{1, 5, 5, 0.5}, {0, 9, 1, 0.1}};
  PipelineComparison comparison;
  ASSERT_FALSE(comparePipeline(view, report, comparison));
  ASSERT_EQ(comparison.ranks.size(), 2u);
  EXPECT_EQ(comparison.ranks[0].measured, 0u);
  EXPECT_EQ(comparison.ranks[0].predicted, 1u);
  EXPECT_DOUBLE_EQ(comparison.ranks[0].predictedRatio, 0.1);
  EXPECT_NEAR(*comparison.ranks[0].difference(), -0.0125, 1e-12);
  EXPECT_EQ(comparison.ranks[1].predicted, 0u);
  EXPECT_NEAR(*comparison.ranks[1].difference(), 11.2 / 21.7 - 0.5, 1e-12);
  EXPECT_EQ(comparison.measuredSpan, 21700);
  EXPECT_DOUBLE_EQ(comparison.predictedMakespan, 10);
  EXPECT_DOUBLE_EQ(*comparison.microsecondsPerUnit, 2.17);
}

TEST(PipelineTest, MismatchedRanksAreErrors) {
  Trace trace = parse(kTwoRanks);
  PipelineView view = analysePipeline(trace);
  PipelineComparison comparison;
  PredictedReport three{6, {{0, 1, 1, 0.5}, {1, 1, 1, 0.5}, {2, 1, 1, 0.5}}};
  EXPECT_EQ(comparePipeline(view, three, comparison),
            "the report has 3 ranks but the trace has 2 (processes with "
            "kernels or step slices)");
  PredictedReport other{2, {{0, 1, 1, 0.5}, {7, 1, 1, 0.5}}};
  EXPECT_EQ(comparePipeline(view, other, comparison),
            "rank 1 of the trace is not in the report");
  PredictedReport zero{0, {{0, 1, 1, 0.5}, {1, 1, 1, 0.5}}};
  ASSERT_FALSE(comparePipeline(view, zero, comparison));
  EXPECT_FALSE(comparison.microsecondsPerUnit);
}

} // namespace
