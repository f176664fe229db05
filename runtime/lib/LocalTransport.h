//===- LocalTransport.h - Messages between ranks of one process -*- C++ -*-===//
//
// NCCL refuses two ranks of one communicator on one GPU; ranks that share a
// process copy to each other instead. A p2p group is a rendezvous of host
// threads: the sender records an event where its data is ready and posts
// each send; the receiver waits for the matching post (same sender, same
// tag), enqueues on its own stream a wait for that event, the copy, and an
// event after the copy, and marks the send taken; the sender waits until
// all its sends are taken and makes its stream wait for those copies. So
// neither stream passes the group before the data moved, as with NCCL, and
// a thread blocks only until its peers reach the same group (the compiler
// proves such blocking groups deadlock-free). The events are opaque here
// (cudaEvent_t for the backend), so the rendezvous is tested without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_LOCALTRANSPORT_H
#define PWRT_LIB_LOCALTRANSPORT_H

#include "ControlPlane.h"

#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace pwrt {

/// A send as its sender posted it.
struct PostedSend {
  int from = -1;
  int to = -1;
  int32_t tag = 0;
  size_t bytes = 0;
  const void *data = nullptr;
  int device = -1;
  void *ready = nullptr; // recorded on the sender's stream: data ready
  std::string what;      // "send activation stage 0 mb 1 to rank 1 (...)"
  // Set by the receiver, under the group's lock.
  bool taken = false;
  void *copied = nullptr; // recorded after the copy; null: nothing copied
};

using SendOrFatal = std::variant<std::shared_ptr<PostedSend>, FatalReport>;

class LocalTransport {
public:
  LocalTransport(std::shared_ptr<LocalGroup> group, int rank,
                 double timeoutSeconds);

  /// Makes `sends` visible to their receivers.
  void post(const std::vector<std::shared_ptr<PostedSend>> &sends);

  /// Waits until `from` has posted its send to this rank with `tag` and
  /// takes it out of the mailbox. On no progress for the timeout: a fatal
  /// PWRT_ERROR_PEER_LOST naming `from` and `what` (the receive), also
  /// announced to the group; or the group's fatal error if one came first.
  SendOrFatal awaitSend(int from, int32_t tag, const std::string &what);

  /// The receiver is done with `send`: `copied` (may be null) completes
  /// when the data is in place.
  void markTaken(const std::shared_ptr<PostedSend> &send, void *copied);

  /// Waits until every one of `sends` is taken (then their `copied` can be
  /// read without the lock).
  std::optional<FatalReport>
  awaitTaken(const std::vector<std::shared_ptr<PostedSend>> &sends);

private:
  FatalReport lost(int peer, const std::string &what);

  std::shared_ptr<LocalGroup> group;
  const int myRank;
  const double timeoutSeconds;
};

} // namespace pwrt

#endif // PWRT_LIB_LOCALTRANSPORT_H
