//===- Analysis.h - Questions answered from a Chrome trace -----*- C++ -*-===//
//
// What pw-prof reports about a trace (issue 9):
//
//  - Streams. Every (pid, tid) that runs kernels, memcpy, memset or
//    pipeweave runtime transfers is a stream. A track that runs nothing is
//    an (empty) stream when PyTorch names it so (thread_name "stream 7 ") or
//    when it is a pipeweave runtime stream: a thread of a process named
//    "rank R", other than the runtime's "steps" lane. Streams of "rank R"
//    processes are runtime streams, the others GPU streams. Per stream: op
//    counts, first start, last end, span = end - start, busy = the length of
//    the union of its op intervals (nested or overlapping ops count once)
//    and the summed durations.
//
//  - Overlap, per device (pid) and in total. Each op is communication or
//    compute by its name (AnalysisOptions::isCommunication). With
//    ClassifyBy::Stream a whole stream is communication when its
//    communication ops take more than half of its summed op time (by count
//    when every op lasts 0), and all its ops count as that; with
//    ClassifyBy::Kernel each op counts as its own class. Communication busy
//    and compute busy are the lengths of the unions of each class's op
//    intervals on the device, intersection the length of their overlap,
//    and the hidden fraction intersection / communication busy.
//
//  - Attribution (GPU streams only). A GPU op is linked to the host call that
//  launched it
//    (cuda_runtime / cuda_driver) by args.correlation, or, where that is
//    missing or matches no call, by a flow whose start lies inside a launch
//    call and whose finish lies inside the op. It is attributed to the
//    innermost user annotation on the launching thread that encloses the
//    whole launch call: the enclosing one that starts last, then the
//    shorter, then the later in the file. GPU time per (annotation name,
//    stream) is the sum of the attributed ops' durations; the others are
//    unattributed, with the reason.
//
//  - Calibration. Each annotation name may measure a pipe.cost field
//    (AnalysisOptions::costFieldOf). Its cost is the compute time of the
//    GPU ops attributed to it (communication ops by name are left out: the
//    pipe.p2p model covers transfers) divided by the number of annotation
//    events with that name; a field's cost is the sum over its names, so
//    attn(F) + mlp(F) make one forward.
//
// All times are exact integer nanoseconds; only the hidden fraction and the
// calibrated means are doubles. Plain C++20, no LLVM or MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_PROFILE_ANALYSIS_H
#define PIPEWEAVE_PROFILE_ANALYSIS_H

#include "passes/Profile/Trace.h"

#include <array>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace pipeweave::profile {

//===----------------------------------------------------------------------===//
// Interval arithmetic
//===----------------------------------------------------------------------===//

/// A half-open time range [start, end).
struct Interval {
  Nanoseconds start = 0;
  Nanoseconds end = 0;
  bool operator==(const Interval &) const = default;
};

/// The union as sorted, disjoint intervals: overlapping and touching ones
/// merge, empty ones vanish.
std::vector<Interval> unionOf(std::vector<Interval> intervals);
/// Total length of sorted, disjoint intervals.
Nanoseconds totalLength(const std::vector<Interval> &disjoint);
/// The intersection of two sorted, disjoint interval lists.
std::vector<Interval> intersectionOf(const std::vector<Interval> &a,
                                     const std::vector<Interval> &b);

//===----------------------------------------------------------------------===//
// Options and results
//===----------------------------------------------------------------------===//

enum class StreamKind : uint8_t { Gpu, Runtime };
enum class WorkClass : uint8_t { Compute, Communication };
enum class ClassifyBy : uint8_t { Stream, Kernel };
enum class CostField : uint8_t {
  Forward,
  BackwardInput,
  BackwardWeight,
  Backward,
};
inline constexpr int kNumCostFields = 4;
/// The pipe.cost field name: "forward", "backward_input", ...
const char *costFieldName(CostField field);

struct AnalysisOptions {
  /// True for the names of communication ops (NCCL, all-to-all, ...).
  std::function<bool(std::string_view)> isCommunication;
  ClassifyBy classifyBy = ClassifyBy::Stream;
  /// The pipe.cost field an annotation name measures, if any.
  std::function<std::optional<CostField>(std::string_view)> costFieldOf;
};

struct StreamStats {
  uint32_t track = 0;
  StreamKind kind = StreamKind::Gpu;
  WorkClass workClass = WorkClass::Compute;
  int64_t kernels = 0, memcpys = 0, memsets = 0, runtimeOps = 0;
  int64_t communicationOps = 0; // ops whose names are communication
  Nanoseconds start = 0;        // first op start (0 for an empty stream)
  Nanoseconds end = 0;          // last op end
  Nanoseconds busy = 0;         // length of the union of op intervals
  Nanoseconds summed = 0;       // sum of op durations
  Nanoseconds communicationSummed = 0;
  std::vector<uint32_t> ops;           // event indices, by start
  std::vector<Interval> busyIntervals; // the union itself

  int64_t opCount() const { return static_cast<int64_t>(ops.size()); }
  Nanoseconds span() const { return end - start; }
};

struct OverlapStats {
  uint32_t process = 0; // index into Trace::processes (unused for totals)
  Nanoseconds communication = 0; // communication busy
  Nanoseconds compute = 0;       // compute busy
  Nanoseconds intersection = 0;  // both at once
  /// Share of communication hidden under compute; none without any.
  std::optional<double> hiddenFraction() const {
    if (communication == 0)
      return std::nullopt;
    return static_cast<double>(intersection) /
           static_cast<double>(communication);
  }
};

struct Overlap {
  std::vector<OverlapStats> devices; // processes that have streams
  OverlapStats total;                // sums over devices
};

struct AttributionRow {
  std::optional<uint32_t> annotation; // interned name; none: unattributed
  uint32_t track = 0;                 // the GPU stream
  int64_t ops = 0;
  Nanoseconds gpuTime = 0; // sum of durations
};

struct Attribution {
  /// Annotated rows first, annotation names by total GPU time (descending),
  /// each with its streams in stream order; then the unattributed rows.
  std::vector<AttributionRow> rows;
  /// Per event: the annotation event a GPU op is attributed to, or
  /// kNone (also for events that are not GPU ops).
  static constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> annotationOf;
  int64_t attributed = 0;
  int64_t withoutLaunch = 0;     // no launch call found
  int64_t withoutAnnotation = 0; // launch call outside every annotation
  int64_t linkedByFlow = 0;      // launch found through a flow
};

struct FlowSummary {
  int64_t ids = 0;                  // distinct (category, id)
  int64_t paired = 0;               // with a start and a finish
  int64_t startsWithoutFinish = 0;  // ids with a start only
  int64_t finishesWithoutStart = 0; // ids with a finish only
  int64_t stepsOnly = 0;            // ids with neither ("t" alone)
};

struct CostComponent {
  uint32_t name = 0; // interned annotation name
  CostField field = CostField::Forward;
  int64_t instances = 0;       // annotation events with this name
  int64_t ops = 0;             // compute ops attributed to them
  Nanoseconds computeTime = 0; // their summed durations
  double mean() const {        // ns per instance
    return instances ? static_cast<double>(computeTime) / instances : 0.0;
  }
};

struct Calibration {
  std::vector<CostComponent> components; // by field, then first appearance
  /// Per CostField: the sum of its components' means (ns); none when no
  /// annotation name maps to the field.
  std::array<std::optional<double>, kNumCostFields> fields;
};

struct Profile {
  std::vector<StreamStats> streams; // by pid, then tid
  /// Per track: index into streams, or -1.
  std::vector<int32_t> streamOfTrack;
  /// Per interned string: true when isCommunication(name).
  std::vector<bool> communicationName;
  ClassifyBy classifyBy = ClassifyBy::Stream;
  Overlap overlap;
  Attribution attribution;
  FlowSummary flows;
  Calibration calibration;

  /// The class an op on a stream counts as in the overlap figures.
  WorkClass classOf(const Trace &trace, uint32_t event) const;
};

Profile analyseTrace(const Trace &trace, const AnalysisOptions &options);

} // namespace pipeweave::profile

#endif // PIPEWEAVE_PROFILE_ANALYSIS_H
