//===- LocalTransport.cpp - Messages between ranks of one process ---------===//

#include "LocalTransport.h"

#include <chrono>

namespace pwrt {

LocalTransport::LocalTransport(std::shared_ptr<LocalGroup> group, int rank,
                               double timeoutSeconds)
    : group(std::move(group)), myRank(rank), timeoutSeconds(timeoutSeconds) {}

void LocalTransport::post(
    const std::vector<std::shared_ptr<PostedSend>> &sends) {
  if (sends.empty())
    return;
  std::lock_guard<std::mutex> lock(group->mutex);
  for (const auto &send : sends)
    group->mailbox[{send->from, send->to, send->tag}].push_back(send);
  group->changed.notify_all();
}

FatalReport LocalTransport::lost(int peer, const std::string &what) {
  FatalReport report;
  report.status = PWRT_ERROR_PEER_LOST;
  report.origin = myRank;
  report.lostRank = peer;
  report.wallNs = wallClockNs();
  report.message = fmt::format(
      "rank {}: no progress for {:.1f} s while waiting on rank {}, presumed "
      "lost: {}",
      myRank, timeoutSeconds, peer, what);
  return report;
}

SendOrFatal LocalTransport::awaitSend(int from, int32_t tag,
                                      const std::string &what) {
  auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(timeoutSeconds));
  std::unique_lock<std::mutex> lock(group->mutex);
  for (;;) {
    if (group->fatal)
      return *group->fatal;
    auto found = group->mailbox.find({from, myRank, tag});
    if (found != group->mailbox.end() && !found->second.empty()) {
      std::shared_ptr<PostedSend> send = found->second.front();
      found->second.pop_front();
      if (found->second.empty())
        group->mailbox.erase(found);
      return send;
    }
    if (group->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      found = group->mailbox.find({from, myRank, tag});
      if (group->fatal || found != group->mailbox.end())
        continue;
      FatalReport report = lost(from, what);
      group->announceLocked(report);
      return report;
    }
  }
}

void LocalTransport::markTaken(const std::shared_ptr<PostedSend> &send,
                               void *copied) {
  std::lock_guard<std::mutex> lock(group->mutex);
  send->copied = copied;
  send->taken = true;
  group->changed.notify_all();
}

std::optional<FatalReport> LocalTransport::awaitTaken(
    const std::vector<std::shared_ptr<PostedSend>> &sends) {
  auto timeout =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(timeoutSeconds));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t lastTaken = 0;
  std::unique_lock<std::mutex> lock(group->mutex);
  for (;;) {
    if (group->fatal)
      return group->fatal;
    const PostedSend *waiting = nullptr;
    size_t taken = 0;
    for (const auto &send : sends) {
      if (send->taken)
        ++taken;
      else if (!waiting)
        waiting = send.get();
    }
    if (!waiting)
      return std::nullopt;
    // The timeout counts from the last send taken.
    if (taken != lastTaken) {
      lastTaken = taken;
      deadline = std::chrono::steady_clock::now() + timeout;
    }
    if (group->changed.wait_until(lock, deadline) == std::cv_status::timeout &&
        !waiting->taken && !group->fatal) {
      FatalReport report = lost(waiting->to, waiting->what);
      group->announceLocked(report);
      return report;
    }
  }
}

} // namespace pwrt
