//===- AnalysisTest.cpp - Streams, overlap, attribution, calibration
//-------===//
//
// Small traces whose figures are worked out by hand in the comments.
//
//===----------------------------------------------------------------------===//

#include "passes/Profile/Analysis.h"

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

AnalysisOptions options(ClassifyBy classifyBy = ClassifyBy::Stream) {
  AnalysisOptions result;
  result.isCommunication = [](std::string_view name) {
    return name.find("nccl") != std::string_view::npos ||
           name.substr(0, 4) == "send" || name.substr(0, 4) == "recv";
  };
  result.classifyBy = classifyBy;
  result.costFieldOf = [](std::string_view name) -> std::optional<CostField> {
    if (name.find("(F)") != std::string_view::npos)
      return CostField::Forward;
    if (name.find("(B)") != std::string_view::npos)
      return CostField::BackwardInput;
    if (name.find("(W)") != std::string_view::npos)
      return CostField::BackwardWeight;
    return std::nullopt;
  };
  return result;
}

std::string streamLabel(const Trace &trace, const StreamStats &stream) {
  return trace.pid(stream.track).text + ":" + trace.tid(stream.track).text;
}

TEST(IntervalTest, UnionMergesOverlappingAndTouchingAndDropsEmpty) {
  std::vector<Interval> merged =
      unionOf({{5, 10}, {0, 3}, {3, 4}, {8, 12}, {20, 20}, {15, 16}});
  EXPECT_EQ(merged, (std::vector<Interval>{{0, 4}, {5, 12}, {15, 16}}));
  EXPECT_EQ(totalLength(merged), 4 + 7 + 1);
  EXPECT_TRUE(unionOf({}).empty());
}

TEST(IntervalTest, Intersection) {
  std::vector<Interval> a = {{0, 4}, {5, 12}};
  std::vector<Interval> b = {{2, 6}, {11, 20}};
  EXPECT_EQ(intersectionOf(a, b),
            (std::vector<Interval>{{2, 4}, {5, 6}, {11, 12}}));
  EXPECT_TRUE(intersectionOf(a, {}).empty());
  EXPECT_TRUE(intersectionOf({{0, 5}}, {{5, 9}}).empty()); // touching only
}

// Stream 0:7 runs A [0,100), B [10,20) inside A, C [90,150) overlapping A,
// D [200,210) and a zero-length E at 300: busy = [0,150) + [200,210) = 160,
// span = 300 - 0, summed = 100 + 10 + 60 + 10 + 0 = 180.
constexpr std::string_view kNestedStreams = R"json({"traceEvents": [
  {"ph": "M", "name": "thread_name", "pid": 0, "tid": 9,
   "args": {"name": "stream 9 "}},
  {"ph": "M", "name": "thread_name", "pid": 1166, "tid": 1166,
   "args": {"name": "thread 1166 (python3)"}},
  {"ph": "X", "cat": "kernel", "name": "A", "pid": 0, "tid": 7, "ts": 0, "dur": 100},
  {"ph": "X", "cat": "kernel", "name": "B", "pid": 0, "tid": 7, "ts": 10, "dur": 10},
  {"ph": "X", "cat": "kernel", "name": "C", "pid": 0, "tid": 7, "ts": 90, "dur": 60},
  {"ph": "X", "cat": "gpu_memcpy", "name": "D", "pid": 0, "tid": 7, "ts": 200, "dur": 10},
  {"ph": "X", "cat": "gpu_memset", "name": "E", "pid": 0, "tid": 7, "ts": 300, "dur": 0},
  {"ph": "X", "cat": "kernel", "name": "F", "pid": 1, "tid": 2, "ts": 5, "dur": 1},
  {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1166, "tid": 1166, "ts": 0, "dur": 50}
]})json";

TEST(StreamTest, NestedAndOverlappingOpsCountOnce) {
  Trace trace = parse(kNestedStreams);
  Profile profile = analyseTrace(trace, options());
  ASSERT_EQ(profile.streams.size(), 3u);
  EXPECT_EQ(streamLabel(trace, profile.streams[0]), "0:7");
  EXPECT_EQ(streamLabel(trace, profile.streams[1]), "0:9");
  EXPECT_EQ(streamLabel(trace, profile.streams[2]), "1:2");

  const StreamStats &stream = profile.streams[0];
  EXPECT_EQ(stream.kind, StreamKind::Gpu);
  EXPECT_EQ(stream.opCount(), 5);
  EXPECT_EQ(stream.kernels, 3);
  EXPECT_EQ(stream.memcpys, 1);
  EXPECT_EQ(stream.memsets, 1);
  EXPECT_EQ(stream.start, 0);
  EXPECT_EQ(stream.end, 300 * us);
  EXPECT_EQ(stream.span(), 300 * us);
  EXPECT_EQ(stream.busy, 160 * us);
  EXPECT_EQ(stream.summed, 180 * us);
  EXPECT_EQ(stream.busyIntervals,
            (std::vector<Interval>{{0, 150 * us}, {200 * us, 210 * us}}));
}

TEST(StreamTest, EmptyStreamsAreListedWithZeros) {
  Trace trace = parse(kNestedStreams);
  Profile profile = analyseTrace(trace, options());
  const StreamStats &empty = profile.streams[1];
  EXPECT_EQ(empty.opCount(), 0);
  EXPECT_EQ(empty.busy, 0);
  EXPECT_EQ(empty.span(), 0);
  EXPECT_EQ(empty.workClass, WorkClass::Compute);
}

TEST(StreamTest, NegativeTimestamps) {
  // Ops at [-50,-20) and [-30,-10): busy 40, span 40, end -10.
  Trace trace = parse(R"json([
    {"ph": "X", "cat": "kernel", "name": "a", "pid": 0, "tid": 1, "ts": -50, "dur": 30},
    {"ph": "X", "cat": "kernel", "name": "b", "pid": 0, "tid": 1, "ts": -30, "dur": 20}
  ])json");
  Profile profile = analyseTrace(trace, options());
  ASSERT_EQ(profile.streams.size(), 1u);
  EXPECT_EQ(profile.streams[0].start, -50 * us);
  EXPECT_EQ(profile.streams[0].end, -10 * us);
  EXPECT_EQ(profile.streams[0].busy, 40 * us);
}

// Device 0: stream 7 computes [0,100) and [150,250); stream 20 runs an
// NCCL kernel [50,200) and a small cast [300,310). By stream, stream 20 is
// communication (150 of its 160 us): communication = [50,200) + [300,310)
// = 160, compute = 200, both = [50,100) + [150,200) = 100, hidden 100/160.
// By kernel, the cast is compute: communication = 150, compute = 210, both
// = 100. Device 1 only computes [0,10).
constexpr std::string_view kOverlap = R"json([
  {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 0, "dur": 100},
  {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 150, "dur": 100},
  {"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce", "pid": 0, "tid": 20, "ts": 50, "dur": 150},
  {"ph": "X", "cat": "kernel", "name": "cast", "pid": 0, "tid": 20, "ts": 300, "dur": 10},
  {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 1, "tid": 7, "ts": 0, "dur": 10}
])json";

TEST(OverlapTest, ByStream) {
  Trace trace = parse(kOverlap);
  Profile profile = analyseTrace(trace, options(ClassifyBy::Stream));
  ASSERT_EQ(profile.streams.size(), 3u);
  EXPECT_EQ(profile.streams[0].workClass, WorkClass::Compute);
  EXPECT_EQ(profile.streams[1].workClass, WorkClass::Communication);
  EXPECT_EQ(profile.streams[1].communicationOps, 1);
  ASSERT_EQ(profile.overlap.devices.size(), 2u);
  const OverlapStats &device0 = profile.overlap.devices[0];
  EXPECT_EQ(device0.communication, 160 * us);
  EXPECT_EQ(device0.compute, 200 * us);
  EXPECT_EQ(device0.intersection, 100 * us);
  EXPECT_DOUBLE_EQ(device0.hiddenFraction().value(), 100.0 / 160.0);
  const OverlapStats &device1 = profile.overlap.devices[1];
  EXPECT_EQ(device1.communication, 0);
  EXPECT_EQ(device1.compute, 10 * us);
  EXPECT_FALSE(device1.hiddenFraction());
  EXPECT_EQ(profile.overlap.total.communication, 160 * us);
  EXPECT_EQ(profile.overlap.total.compute, 210 * us);
  EXPECT_EQ(profile.overlap.total.intersection, 100 * us);
}

TEST(OverlapTest, ByKernel) {
  Trace trace = parse(kOverlap);
  Profile profile = analyseTrace(trace, options(ClassifyBy::Kernel));
  const OverlapStats &device0 = profile.overlap.devices[0];
  EXPECT_EQ(device0.communication, 150 * us);
  EXPECT_EQ(device0.compute, 210 * us);
  EXPECT_EQ(device0.intersection, 100 * us);
  // The stream's own class is reported either way.
  EXPECT_EQ(profile.streams[1].workClass, WorkClass::Communication);
  EXPECT_EQ(profile.classOf(trace, 3), WorkClass::Compute); // the cast
}

// Host thread 1166 has annotations step [0,1000) > attn(F) [10,100) >
// inner [20,40), and mlp(F) [100,200) right after attn(F); outer-same
// [700,800) and inner-same [700,750) start together. Thread 2000 has bwd
// [0,2000). Launches (correlation -> kernel):
//   1 [25,30)    -> k1  5 us  inner (innermost of three)
//   2 [50,55)    -> k2  7 us  attn(F)
//   3 [95,105)   -> k3 11 us  step (straddles attn(F) | mlp(F))
//   4 [1500,...) -> k4 13 us  no annotation on its thread
//   -            -> k5 17 us  correlation 99 matches no call
//   6 [150,160)  -> k6a 2 us + k6b 3 us on stream 8  mlp(F) (graph launch)
//   7 on thread 2000 [10,12) -> k7 23 us  bwd, not the main thread's step
//   call [300,305) without correlation, flow f1 to k8 20 us  step
//   9 [710,712)  -> k9 19 us  inner-same (same start, shorter)
constexpr std::string_view kAttribution = R"json([
  {"ph": "X", "cat": "user_annotation", "name": "step", "pid": 1166, "tid": 1166, "ts": 0, "dur": 1000},
  {"ph": "X", "cat": "user_annotation", "name": "attn(F)", "pid": 1166, "tid": 1166, "ts": 10, "dur": 90},
  {"ph": "X", "cat": "user_annotation", "name": "inner", "pid": 1166, "tid": 1166, "ts": 20, "dur": 20},
  {"ph": "X", "cat": "user_annotation", "name": "mlp(F)", "pid": 1166, "tid": 1166, "ts": 100, "dur": 100},
  {"ph": "X", "cat": "user_annotation", "name": "outer-same", "pid": 1166, "tid": 1166, "ts": 700, "dur": 100},
  {"ph": "X", "cat": "user_annotation", "name": "inner-same", "pid": 1166, "tid": 1166, "ts": 700, "dur": 50},
  {"ph": "X", "cat": "user_annotation", "name": "bwd", "pid": 1166, "tid": 2000, "ts": 0, "dur": 2000},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 25, "dur": 5, "args": {"correlation": 1}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 50, "dur": 5, "args": {"correlation": 2}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 95, "dur": 10, "args": {"correlation": 3}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 1500, "dur": 1, "args": {"correlation": 4}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaGraphLaunch", "pid": 1166, "tid": 1166, "ts": 150, "dur": 10, "args": {"correlation": 6}},
  {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel", "pid": 1166, "tid": 2000, "ts": 10, "dur": 2, "args": {"correlation": 7}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 300, "dur": 5},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1166, "tid": 1166, "ts": 710, "dur": 2, "args": {"correlation": 9}},
  {"ph": "s", "id": "f1", "cat": "ac2g", "pid": 1166, "tid": 1166, "ts": 301},
  {"ph": "f", "id": "f1", "cat": "ac2g", "pid": 0, "tid": 7, "ts": 600, "bp": "e"},
  {"ph": "s", "id": "lonely", "cat": "ac2g", "pid": 1166, "tid": 1166, "ts": 26},
  {"ph": "f", "id": "orphan", "cat": "ac2g", "pid": 0, "tid": 7, "ts": 40},
  {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0, "tid": 7, "ts": 40, "dur": 5, "args": {"correlation": 1}},
  {"ph": "X", "cat": "kernel", "name": "k2", "pid": 0, "tid": 7, "ts": 60, "dur": 7, "args": {"correlation": 2}},
  {"ph": "X", "cat": "kernel", "name": "k3", "pid": 0, "tid": 7, "ts": 110, "dur": 11, "args": {"correlation": 3}},
  {"ph": "X", "cat": "kernel", "name": "k4", "pid": 0, "tid": 7, "ts": 1510, "dur": 13, "args": {"correlation": 4}},
  {"ph": "X", "cat": "kernel", "name": "k5", "pid": 0, "tid": 7, "ts": 1600, "dur": 17, "args": {"correlation": 99}},
  {"ph": "X", "cat": "kernel", "name": "k6a", "pid": 0, "tid": 8, "ts": 170, "dur": 2, "args": {"correlation": 6}},
  {"ph": "X", "cat": "kernel", "name": "k6b", "pid": 0, "tid": 8, "ts": 172, "dur": 3, "args": {"correlation": 6}},
  {"ph": "X", "cat": "kernel", "name": "k7", "pid": 0, "tid": 7, "ts": 20, "dur": 23, "args": {"correlation": 7}},
  {"ph": "X", "cat": "kernel", "name": "k8", "pid": 0, "tid": 7, "ts": 600, "dur": 20},
  {"ph": "X", "cat": "kernel", "name": "k9", "pid": 0, "tid": 7, "ts": 720, "dur": 19, "args": {"correlation": 9}}
])json";

TEST(AttributionTest, InnermostAnnotationOnTheLaunchingThread) {
  Trace trace = parse(kAttribution);
  Profile profile = analyseTrace(trace, options());
  const Attribution &attribution = profile.attribution;
  std::vector<std::tuple<std::string, std::string, int64_t, Nanoseconds>> rows;
  for (const AttributionRow &row : attribution.rows) {
    rows.emplace_back(row.annotation ? trace.strings[*row.annotation]
                                     : "(unattributed)",
                      trace.tid(row.track).text, row.ops, row.gpuTime);
  }
  // By total GPU time; inner and mlp(F) tie at 5 and go by name.
  using Row = std::tuple<std::string, std::string, int64_t, Nanoseconds>;
  EXPECT_EQ(rows, (std::vector<Row>{
                      {"step", "7", 2, 31 * us},
                      {"bwd", "7", 1, 23 * us},
                      {"inner-same", "7", 1, 19 * us},
                      {"attn(F)", "7", 1, 7 * us},
                      {"inner", "7", 1, 5 * us},
                      {"mlp(F)", "8", 2, 5 * us},
                      {"(unattributed)", "7", 2, 30 * us},
                  }));
  EXPECT_EQ(attribution.attributed, 8);
  EXPECT_EQ(attribution.withoutAnnotation, 1);
  EXPECT_EQ(attribution.withoutLaunch, 1);
  EXPECT_EQ(attribution.linkedByFlow, 1);
}

TEST(AttributionTest, FlowsWithoutPartnerAreCounted) {
  Trace trace = parse(kAttribution);
  Profile profile = analyseTrace(trace, options());
  EXPECT_EQ(profile.flows.ids, 3);
  EXPECT_EQ(profile.flows.paired, 1);
  EXPECT_EQ(profile.flows.startsWithoutFinish, 1);
  EXPECT_EQ(profile.flows.finishesWithoutStart, 1);
}

// attn(F) twice: kernels 10 + 20 in the first, 30 in the second -> mean
// 30; mlp(F) once with 8 -> forward = 38. dispatch(F) only runs an NCCL
// kernel, which does not count: mean 0. attn(B) twice, one with a 50 us
// kernel -> backward_input = 25. Nothing measures backward_weight.
constexpr std::string_view kCalibration = R"json([
  {"ph": "X", "cat": "user_annotation", "name": "attn(F)", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "mlp(F)", "pid": 1, "tid": 1, "ts": 10, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "dispatch(F)", "pid": 1, "tid": 1, "ts": 20, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "attn(F)", "pid": 1, "tid": 1, "ts": 30, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "attn(B)", "pid": 1, "tid": 1, "ts": 40, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "attn(B)", "pid": 1, "tid": 1, "ts": 50, "dur": 10},
  {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1, "tid": 1, "ts": 0, "dur": 100},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 1, "dur": 1, "args": {"correlation": 1}},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 3, "dur": 1, "args": {"correlation": 2}},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 11, "dur": 1, "args": {"correlation": 3}},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 21, "dur": 1, "args": {"correlation": 4}},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 31, "dur": 1, "args": {"correlation": 5}},
  {"ph": "X", "cat": "cuda_runtime", "name": "launch", "pid": 1, "tid": 1, "ts": 41, "dur": 1, "args": {"correlation": 6}},
  {"ph": "X", "cat": "kernel", "name": "a", "pid": 0, "tid": 7, "ts": 100, "dur": 10, "args": {"correlation": 1}},
  {"ph": "X", "cat": "kernel", "name": "b", "pid": 0, "tid": 7, "ts": 110, "dur": 20, "args": {"correlation": 2}},
  {"ph": "X", "cat": "kernel", "name": "c", "pid": 0, "tid": 7, "ts": 130, "dur": 8, "args": {"correlation": 3}},
  {"ph": "X", "cat": "kernel", "name": "ncclKernel", "pid": 0, "tid": 9, "ts": 130, "dur": 100, "args": {"correlation": 4}},
  {"ph": "X", "cat": "kernel", "name": "d", "pid": 0, "tid": 7, "ts": 140, "dur": 30, "args": {"correlation": 5}},
  {"ph": "X", "cat": "kernel", "name": "e", "pid": 0, "tid": 7, "ts": 170, "dur": 50, "args": {"correlation": 6}}
])json";

TEST(CalibrationTest, MeanComputeTimePerInstanceSummedPerField) {
  Trace trace = parse(kCalibration);
  Profile profile = analyseTrace(trace, options());
  const Calibration &calibration = profile.calibration;
  std::vector<std::tuple<std::string, CostField, int64_t, int64_t, Nanoseconds>>
      components;
  for (const CostComponent &component : calibration.components)
    components.emplace_back(trace.strings[component.name], component.field,
                            component.instances, component.ops,
                            component.computeTime);
  using Component =
      std::tuple<std::string, CostField, int64_t, int64_t, Nanoseconds>;
  EXPECT_EQ(components,
            (std::vector<Component>{
                {"attn(F)", CostField::Forward, 2, 3, 60 * us},
                {"mlp(F)", CostField::Forward, 1, 1, 8 * us},
                {"dispatch(F)", CostField::Forward, 1, 0, 0},
                {"attn(B)", CostField::BackwardInput, 2, 1, 50 * us},
            }));
  EXPECT_DOUBLE_EQ(calibration.fields[0].value(), 38.0 * us);
  EXPECT_DOUBLE_EQ(calibration.fields[1].value(), 25.0 * us);
  EXPECT_FALSE(calibration.fields[2]);
  EXPECT_FALSE(calibration.fields[3]);
}

// pipeweave's runtime: process "rank 0" with streams compute (0), comm (1)
// and an idle one (2); tid 3 is the host's steps lane. compute runs
// [0,10) and [12,20), comm sends [5,15): communication 10, compute 18,
// both [5,10) + [12,15) = 8.
constexpr std::string_view kRuntime = R"json({"traceEvents":[
  {"ph":"M","pid":0,"name":"process_name","args":{"name":"rank 0"}},
  {"ph":"M","pid":0,"tid":0,"name":"thread_name","args":{"name":"compute"}},
  {"ph":"M","pid":0,"tid":1,"name":"thread_name","args":{"name":"comm"}},
  {"ph":"M","pid":0,"tid":2,"name":"thread_name","args":{"name":"spare"}},
  {"ph":"M","pid":0,"tid":3,"name":"thread_name","args":{"name":"steps"}},
  {"ph":"X","pid":0,"tid":0,"ts":0.000,"dur":10.000,"name":"mlp_fwd","cat":"kernel","args":{"step":0}},
  {"ph":"X","pid":0,"tid":0,"ts":12.000,"dur":8.000,"name":"mlp_fwd","cat":"kernel","args":{"step":0}},
  {"ph":"X","pid":0,"tid":1,"ts":5.000,"dur":10.000,"name":"send activation to 1","cat":"transfer","args":{"step":0}},
  {"ph":"X","pid":0,"tid":3,"ts":0.000,"dur":20.000,"name":"step 0","cat":"step","args":{"step":0}}
]})json";

TEST(RuntimeTraceTest, RankStreamsAreRuntimeStreams) {
  Trace trace = parse(kRuntime);
  Profile profile = analyseTrace(trace, options());
  ASSERT_EQ(profile.streams.size(), 3u);
  for (const StreamStats &stream : profile.streams)
    EXPECT_EQ(stream.kind, StreamKind::Runtime);
  EXPECT_EQ(profile.streams[0].kernels, 2);
  EXPECT_EQ(profile.streams[0].busy, 18 * us);
  EXPECT_EQ(profile.streams[1].runtimeOps, 1);
  EXPECT_EQ(profile.streams[1].workClass, WorkClass::Communication);
  EXPECT_EQ(profile.streams[2].opCount(), 0);
  const OverlapStats &rank = profile.overlap.devices.at(0);
  EXPECT_EQ(rank.communication, 10 * us);
  EXPECT_EQ(rank.compute, 18 * us);
  EXPECT_EQ(rank.intersection, 8 * us);
  EXPECT_TRUE(profile.attribution.rows.empty());
}

} // namespace
