//===- Trace.h - Chrome trace events as plain values ------------*- C++ -*-===//
//
// The events pw-prof reads from a Chrome trace (the JSON that PyTorch's
// profiler, Kineto and pipeweave's runtime write): complete events, metadata
// and flow events. The reader keeps what the analyses need and counts the
// rest; strings are interned so that a trace of millions of events stays
// small. Plain C++20, no LLVM or MLIR in this interface; nothing here throws.
//
// What the reader accepts:
//  - An object with a "traceEvents" array, or a bare array of events. Other
//    top-level keys are ignored.
//  - Complete events (ph "X") with ts and dur. Their "cat" decides the kind:
//    kernel, gpu_memcpy and gpu_memset are GPU work; cuda_runtime and
//    cuda_driver are the host calls that launch it (linked by
//    args.correlation); cpu_op (or operator), user_annotation and
//    gpu_user_annotation are what their names say. pipeweave's runtime
//    (runtime/lib/Trace.cpp) writes its kernels as "kernel" too and its
//    send/recv slices as "transfer", its training steps as "step" (on a
//    "steps" lane), one process "rank R" per rank.
//  - Metadata events (ph "M"): process_name, process_labels and thread_name.
//  - Flow events (ph "s", "t", "f"), paired by (cat, id).
//  Everything else (instant and counter events, B/E pairs, ...) is counted.
//
// Times: Chrome traces give ts and dur in microseconds, as integers (PyTorch
// up to 2.3, DeepSeek's profiles) or as decimals with fractions (newer
// Kineto). Both are converted exactly from their decimal text to integer
// nanoseconds, never through a double: 1740461679471346 us does not fit a
// double's 53 bits once scaled to ns. Digits below a nanosecond are rounded
// to the nearest (halves away from zero).
//
// Missing fields: a complete event without ts or dur, or with a negative
// dur, is skipped and counted in TraceCounts::skippedComplete; a missing pid
// or tid reads as "" (as in Chrome's viewer), a missing name as "". A field
// with a value of the wrong kind (ts: "abc") is an error.
//
// Errors carry the byte offset where the input goes wrong: broken structure
// (a missing comma, a truncated file), bad strings and numbers, and wrong
// kinds of the values the reader uses. Values it does not use (most of
// "args") are checked for structure only, as simdjson skips them.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_PROFILE_TRACE_H
#define PIPEWEAVE_PROFILE_TRACE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pipeweave::profile {

/// Trace time: integer nanoseconds (the file's microseconds times 1000).
using Nanoseconds = int64_t;

enum class EventKind : uint8_t {
  Kernel,        // cat "kernel": a GPU kernel on a stream
  Memcpy,        // cat "gpu_memcpy"
  Memset,        // cat "gpu_memset"
  RuntimeOp,     // cat "transfer": a pipeweave runtime send or recv
  LaunchCall,    // cat "cuda_runtime" or "cuda_driver": a host API call
  CpuOp,         // cat "cpu_op" or "operator"
  Annotation,    // cat "user_annotation" (record_function ranges)
  GpuAnnotation, // cat "gpu_user_annotation" (their GPU-side projection)
  Step,          // cat "step": a pipeweave runtime training step
  Other,
};

/// Work that occupies a stream: GPU kernels, memcpy, memset, runtime ops.
inline bool isStreamOp(EventKind kind) {
  return kind == EventKind::Kernel || kind == EventKind::Memcpy ||
         kind == EventKind::Memset || kind == EventKind::RuntimeOp;
}
/// Work on a GPU stream (the events PyTorch links to their launch).
inline bool isGpuOp(EventKind kind) {
  return kind == EventKind::Kernel || kind == EventKind::Memcpy ||
         kind == EventKind::Memset;
}

/// A pid or tid as written: a JSON number ("7") or a string ("Spans").
struct TraceId {
  std::string text;
  bool isNumber = false;
  bool operator==(const TraceId &) const = default;
};
/// Numbers first, in numeric order; then strings in byte order.
bool lessTraceId(const TraceId &a, const TraceId &b);

struct Process {
  TraceId pid;
  std::string name;   // process_name metadata ("python3")
  std::string labels; // process_labels metadata ("GPU 0", "CPU")
};

/// One (pid, tid) pair: a host thread or a GPU / runtime stream.
struct Track {
  uint32_t process = 0; // index into Trace::processes
  TraceId tid;
  std::string name; // thread_name metadata ("stream 7 ", "thread 1166")
};

/// A complete event ("ph": "X").
struct CompleteEvent {
  Nanoseconds start = 0;
  Nanoseconds duration = 0;
  int64_t correlation = 0; // args.correlation when hasCorrelation
  uint32_t name = 0;       // index into Trace::strings
  uint32_t track = 0;      // index into Trace::tracks
  EventKind kind = EventKind::Other;
  bool hasCorrelation = false;

  Nanoseconds end() const { return start + duration; }
};

enum class FlowPhase : uint8_t { Start, Step, Finish };

/// A flow event ("ph": "s", "t" or "f"); flows pair up by (category, id).
struct FlowEvent {
  Nanoseconds time = 0;
  std::string id;        // the id's text (numbers and strings alike)
  uint32_t category = 0; // index into Trace::strings
  uint32_t track = 0;
  FlowPhase phase = FlowPhase::Start;
  bool bindsToEnclosing = false; // "bp": "e"
};

struct TraceCounts {
  int64_t events = 0;          // every element of the event array
  int64_t complete = 0;        // "X" events kept in Trace::events
  int64_t skippedComplete = 0; // "X" without ts or dur, or with dur < 0
  int64_t metadata = 0;        // "M"
  int64_t flow = 0;            // "s", "t", "f"
  int64_t skippedFlow = 0;     // flow events without ts or id
  int64_t instant = 0;         // "i", "I"
  int64_t otherPhase = 0;      // anything else: "B"/"E", "C", ...
};

struct Trace {
  std::vector<std::string> strings; // interned names and categories
  std::vector<Process> processes;
  std::vector<Track> tracks;
  std::vector<CompleteEvent> events; // file order
  std::vector<FlowEvent> flows;      // file order
  TraceCounts counts;
  bool bareArray = false; // the file is a bare array, not {"traceEvents":..}

  const std::string &name(const CompleteEvent &event) const {
    return strings[event.name];
  }
  const TraceId &pid(uint32_t track) const {
    return processes[tracks[track].process].pid;
  }
  const TraceId &tid(uint32_t track) const { return tracks[track].tid; }
};

/// What went wrong, and where: `offset` is the byte offset into the input
/// when the problem is in the text (absent for I/O errors).
struct TraceError {
  std::optional<size_t> offset;
  std::string message;
};

/// Reads a trace from JSON text. On failure `trace` holds what was read
/// before the error.
std::optional<TraceError> parseTrace(std::string_view json, Trace &trace);

/// Reads a trace from a file ("-" reads standard input).
std::optional<TraceError> parseTraceFile(const std::string &path, Trace &trace);

/// Converts a JSON number's text (microseconds) to exact nanoseconds; false
/// when the text is not a JSON number or the value does not fit.
bool parseMicroseconds(std::string_view text, Nanoseconds &nanoseconds);

/// Microseconds as exact decimal text: 118193000 ns -> "118193",
/// 1500 -> "1.5", -1 -> "-0.001".
std::string formatMicroseconds(Nanoseconds nanoseconds);

} // namespace pipeweave::profile

#endif // PIPEWEAVE_PROFILE_TRACE_H
