//===- StepReport.h - What CUDA ranks agree on at a step's end --*- C++ -*-===//
//
// At pwrt_step_end every rank shares one report: its own failure, if any,
// and the sequence of messages it sent to and received from each peer. All
// ranks combine the same reports the same way, so they return the same
// status and message. NCCL pairs a sender's messages with the receiver's by
// position, not by tag, so the check that both ends issued the same
// sequence turns a silent mismatch into a clear error.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_STEPREPORT_H
#define PWRT_LIB_STEPREPORT_H

#include "Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pwrt {

/// The messages of one direction of one pair in one step, in issue order.
struct MessageSequence {
  uint64_t count = 0;
  uint64_t digest = 14695981039346656037ull; // FNV-1a over (tag, bytes)

  void add(int32_t tag, uint64_t bytes);
  bool operator==(const MessageSequence &other) const {
    return count == other.count && digest == other.digest;
  }
};

struct StepReport {
  bool failed = false;
  pwrt_status status = PWRT_OK;
  int64_t wallNs = 0;                // when the failure happened (wall clock)
  std::string message;               // "rank R: ..."
  std::vector<MessageSequence> sent; // by destination rank
  std::vector<MessageSequence> received; // by source rank
};

std::string encodeStepReport(const StepReport &report);
/// Null if `text` is not a report for `worldSize` ranks.
std::optional<StepReport> decodeStepReport(const std::string &text,
                                           int worldSize);

/// The step's outcome from reports[r] of every rank r: OK; or the earliest
/// failure (by time, then rank) followed by the others ("; then ..."); or,
/// if `checkOrder`, a fatal PWRT_ERROR_DEVICE for the first pair whose two
/// ends issued different message sequences.
Error combineStepReports(const std::vector<StepReport> &reports,
                         bool checkOrder);

} // namespace pwrt

#endif // PWRT_LIB_STEPREPORT_H
