//===- ControlPlane.h - Host-side messages between CUDA ranks ---*- C++ -*-===//
//
// What the CUDA backend's ranks tell each other besides the data itself:
// all-gathers (the NCCL unique id, device placements, kernel lists, step
// reports, traces) and fatal errors, so that peers abort instead of
// waiting. Two implementations: MPI between processes (MpiControl.cpp) and
// shared memory between the threads of one process (LocalControl.cpp).
// Every wait gives up after the timeout without progress and names the
// ranks it still waits for.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_CONTROLPLANE_H
#define PWRT_LIB_CONTROLPLANE_H

#include "Error.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace pwrt {

/// A fatal error as the ranks exchange it.
struct FatalReport {
  pwrt_status status = PWRT_ERROR_INTERNAL;
  int origin = -1;   // the rank where it happened
  int lostRank = -1; // PWRT_ERROR_PEER_LOST: the rank presumed gone
  int64_t wallNs = 0;
  std::string message; // "rank <origin>: ..."

  Error toError() const { return Error(status, message, /*fatal=*/true); }
};

std::string encodeFatal(const FatalReport &report);
std::optional<FatalReport> decodeFatal(const std::string &text);

/// Wall-clock nanoseconds: orders failures of different ranks.
int64_t wallClockNs();

class ControlPlane {
public:
  virtual ~ControlPlane() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// This rank's index among the ranks of its node (picks its device).
  virtual int localRank() const = 0;
  /// Whether every rank of the job lives in this process.
  virtual bool singleProcess() const = 0;

  /// Collective: all[r] = rank r's `mine`. `what` names the exchange in
  /// errors ("the step 3 reports"). Returns the fatal error that ended the
  /// wait: no progress for the timeout (PWRT_ERROR_PEER_LOST naming the
  /// missing ranks, also announced to the others) or a peer's announcement.
  virtual std::optional<FatalReport> allGather(const std::string &mine,
                                               std::vector<std::string> &all,
                                               const std::string &what) = 0;

  /// Tells every peer (best effort, without blocking).
  virtual void announceFatal(const FatalReport &report) = 0;
  /// A peer's fatal announcement, if one arrived.
  virtual std::optional<FatalReport> pollFatal() = 0;
  /// The job is broken: skip orderly teardown that needs the peers.
  virtual void markBroken() {}
};

struct PostedSend; // LocalTransport.h

/// The state that the ranks of one process share (single-process mode):
/// all-gather rounds, the first fatal error, and the local transport's
/// mailbox (LocalTransport.h) under the same lock.
class LocalGroup {
public:
  explicit LocalGroup(int size);

  const int size;
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<FatalReport> fatal; // first announced

  struct Round {
    std::vector<std::string> values;
    std::vector<bool> arrived;
    int count = 0;
    int departed = 0;
  };
  std::map<uint64_t, Round> rounds;
  std::vector<uint64_t> nextRound; // per rank

  /// Sends posted and not yet taken, by (from, to, tag), oldest first.
  std::map<std::tuple<int, int, int32_t>,
           std::deque<std::shared_ptr<PostedSend>>>
      mailbox;

  /// Sets `fatal` unless one is set; wakes every waiter. Needs `mutex`.
  void announceLocked(const FatalReport &report);
};

/// Ranks of one process: `rank` of group->size, talking through `group`.
std::unique_ptr<ControlPlane>
createLocalControl(std::shared_ptr<LocalGroup> group, int rank,
                   double timeoutSeconds);

/// One process per rank over MPI (initializes MPI if needed); null with
/// `error` set if this build has no MPI or MPI fails.
std::unique_ptr<ControlPlane> createMpiControl(double timeoutSeconds,
                                               Error &error);

/// Whether this build can start ranks as processes (has MPI).
bool haveMpiControl();

/// "rank 1", "rank 1, rank 3" for messages.
std::string rankList(const std::vector<int> &ranks);

} // namespace pwrt

#endif // PWRT_LIB_CONTROLPLANE_H
