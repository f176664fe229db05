//===- Pipeline.h - Per-rank bubble, measured and predicted -----*- C++ -*-===//
//
// The pipeline view of a trace (issue 9): per rank, how much of its training
// step it spent computing, and how that compares with the bubble the
// simulator predicts for the same program (`pwc SPEC --emit=report`).
//
//  - A rank is a process (pid) with kernels or step slices. Its rank number
//    is R for pipeweave's "rank R" processes, else the pid when that is an
//    integer.
//  - Span: from the first step slice's start to the last one's end (cat
//    "step", the runtime's steps lane); without step slices, from the first
//    kernel start to the last kernel end.
//  - Busy: the length of the union of the rank's kernel intervals (every
//    stream), clipped to the span; transfers are not compute. Bubble = span
//    - busy, bubble ratio = bubble / span.
//  - Against a prediction: ranks pair up by rank number; per rank the
//    predicted and measured bubble ratios and measured - predicted; and the
//    predicted makespan (model units) against the longest measured span,
//    whose quotient is the microseconds one model unit took.
//
// Plain C++20, no LLVM or MLIR; nothing here throws.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_PROFILE_PIPELINE_H
#define PIPEWEAVE_PROFILE_PIPELINE_H

#include "passes/Profile/Trace.h"

#include <optional>
#include <string>
#include <vector>

namespace pipeweave::profile {

struct RankPipeline {
  uint32_t process = 0;        // index into Trace::processes
  std::optional<int64_t> rank; // "rank R", or an integer pid
  int64_t kernels = 0;
  int64_t steps = 0;          // step slices
  bool spanFromSteps = false; // else first kernel start to last kernel end
  Nanoseconds start = 0;
  Nanoseconds end = 0;
  Nanoseconds busy = 0; // union of kernel intervals within [start, end)

  Nanoseconds span() const { return end - start; }
  Nanoseconds bubble() const { return span() - busy; }
  /// bubble / span; none for an empty span.
  std::optional<double> bubbleRatio() const {
    if (span() <= 0)
      return std::nullopt;
    return static_cast<double>(bubble()) / static_cast<double>(span());
  }
};

struct PipelineView {
  std::vector<RankPipeline> ranks; // by pid
  Nanoseconds maxSpan() const;
};

PipelineView analysePipeline(const Trace &trace);

/// What the comparison needs from the simulator's JSON report.
struct PredictedRank {
  int64_t rank = 0;
  double busy = 0, bubble = 0, bubbleRatio = 0; // model units
};
struct PredictedReport {
  double makespan = 0; // model units
  std::vector<PredictedRank> ranks;
};

struct RankComparison {
  size_t measured = 0;  // index into PipelineView::ranks
  size_t predicted = 0; // index into PredictedReport::ranks
  std::optional<double> measuredRatio;
  double predictedRatio = 0;
  /// measured - predicted; none without a measured ratio.
  std::optional<double> difference() const {
    if (!measuredRatio)
      return std::nullopt;
    return *measuredRatio - predictedRatio;
  }
};

struct PipelineComparison {
  std::vector<RankComparison> ranks; // in the view's rank order
  double predictedMakespan = 0;      // model units
  Nanoseconds measuredSpan = 0;      // the longest rank span
  /// Measured microseconds per model unit; none for a zero makespan.
  std::optional<double> microsecondsPerUnit;
};

/// Pairs the view's ranks with the report's; on a mismatch (different rank
/// counts, a rank without a number or without a partner) returns what is
/// wrong instead.
std::optional<std::string> comparePipeline(const PipelineView &view,
                                           const PredictedReport &report,
                                           PipelineComparison &comparison);

} // namespace pipeweave::profile

#endif // PIPEWEAVE_PROFILE_PIPELINE_H
