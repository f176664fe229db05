//===- ProgressWatch.h - Which enqueued op holds a step up ------*- C++ -*-===//
//
// The CUDA backend's watchdog. Every kernel and p2p group it enqueues is
// followed by a marker event; a wait for another stream's event completes
// with the op recorded before that event. While pwrt_step_end waits, the
// watch moves each stream's count of completed ops forward by querying
// only the marker at its head. When nothing moves for the timeout, the op
// that holds the others up is found by following waits to the op they wait
// for: a group (a peer does not answer) or a kernel (still running).
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_PROGRESSWATCH_H
#define PWRT_LIB_PROGRESSWATCH_H

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace pwrt {

/// One enqueued op of a stream as the watch sees it.
struct WatchedOp {
  bool isWait = false;
  int waitStream = -1; // a wait: the stream of the op it waits for
  int waitOp = -1;     // that op's index; -1: nothing of this step
};

enum class OpState { Done, Pending, Failed };

class ProgressWatch {
public:
  void reset(size_t streams);
  /// Appends an op to `stream`; returns its index.
  int add(int stream, WatchedOp op);
  /// The index of the last op of `stream`, -1 if none this step.
  int last(int stream) const;

  struct Advance {
    bool moved = false;
    int failedStream = -1; // `state` said Failed for this op
    int failedOp = -1;
  };
  /// Moves every stream's completed count forward as far as `state`
  /// (asked only for the non-wait op at a stream's head) allows.
  Advance advance(const std::function<OpState(int stream, int op)> &state);

  bool finished() const;
  /// The op that holds the others up, {stream, op}; {-1, -1} if finished.
  std::pair<int, int> blocker() const;
  /// Ops of `stream` known complete (they lead its list).
  size_t completed(int stream) const { return done[size_t(stream)]; }

private:
  std::vector<std::vector<WatchedOp>> ops; // by stream
  std::vector<size_t> done;
};

} // namespace pwrt

#endif // PWRT_LIB_PROGRESSWATCH_H
