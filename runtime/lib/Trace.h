//===- Trace.h - Chrome trace slices of one rank ----------------*- C++ -*-===//
//
// Each stream thread appends the slices it ran to its own list (no locks);
// at shutdown every rank renders its slices as Chrome trace events and rank
// 0 writes one file with all ranks: pid = rank, tid = stream index (the
// host's step lane is the tid after the last stream).
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_TRACE_H
#define PWRT_LIB_TRACE_H

#include "Backend.h"

#include <cstdint>
#include <string>
#include <vector>

namespace pwrt {

enum class SliceKind : uint8_t { Kernel, Send, Recv, AllToAll, Step };

struct Slice {
  int64_t beginNs = 0; // since the context's time origin
  int64_t endNs = 0;
  uint64_t step = 0;
  int64_t bytes = 0;   // AllToAll: bytes of one row
  int32_t kernel = -1; // Kernel: pwrt_kernel
  int32_t stage = -1;
  int32_t microbatch = -1;
  int32_t layer = -1; // Kernel, AllToAll: the component's layer, -1: none
  int32_t peer = -1;  // AllToAll: the group
  int32_t tag = -1;
  SliceKind kind = SliceKind::Kernel;
  // Kernel, AllToAll: pwrt_action_kind; Send/Recv: pwrt_payload.
  uint8_t detail = 0;
  // AllToAll: rows sent and received (its own rows included) and the
  // index of its name in the backend's label table.
  int32_t label = -1;
  int64_t rowsSent = 0;
  int64_t rowsReceived = 0;
};

struct StreamTrace {
  std::string name;
  const std::vector<Slice> *slices = nullptr;
};

/// Comma-separated trace events of one rank (metadata naming the process
/// and its streams, then one complete event per slice); no brackets.
/// `labels` names all-to-alls (Slice::label).
std::string renderRankTrace(int rank, const std::vector<StreamTrace> &streams,
                            const std::vector<Slice> &steps,
                            const KernelTable &kernels,
                            const std::vector<std::string> &labels = {});

/// Writes {"traceEvents": [...]} joining every rank's rendered events.
Error writeTraceFile(const std::string &path,
                     const std::vector<std::string> &rankEvents);

/// `text` as the inside of a JSON string literal.
std::string jsonEscape(const std::string &text);

} // namespace pwrt

#endif // PWRT_LIB_TRACE_H
