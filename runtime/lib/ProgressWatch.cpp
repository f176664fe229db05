//===- ProgressWatch.cpp - Which enqueued op holds a step up --------------===//

#include "ProgressWatch.h"

namespace pwrt {

void ProgressWatch::reset(size_t streams) {
  ops.resize(streams);
  for (auto &list : ops)
    list.clear();
  done.assign(streams, 0);
}

int ProgressWatch::add(int stream, WatchedOp op) {
  if (size_t(stream) >= ops.size()) {
    ops.resize(size_t(stream) + 1);
    done.resize(size_t(stream) + 1, 0);
  }
  ops[size_t(stream)].push_back(op);
  return int(ops[size_t(stream)].size()) - 1;
}

int ProgressWatch::last(int stream) const {
  if (size_t(stream) >= ops.size())
    return -1;
  return int(ops[size_t(stream)].size()) - 1;
}

ProgressWatch::Advance
ProgressWatch::advance(const std::function<OpState(int, int)> &state) {
  Advance result;
  // A wait can complete only after another stream moved: repeat until no
  // stream moves.
  for (bool again = true; again;) {
    again = false;
    for (size_t s = 0; s < ops.size(); ++s) {
      while (done[s] < ops[s].size()) {
        const WatchedOp &op = ops[s][done[s]];
        if (op.isWait) {
          if (op.waitOp >= 0 &&
              done[size_t(op.waitStream)] <= size_t(op.waitOp))
            break;
        } else {
          OpState now = state(int(s), int(done[s]));
          if (now == OpState::Failed) {
            result.failedStream = int(s);
            result.failedOp = int(done[s]);
            return result;
          }
          if (now == OpState::Pending)
            break;
        }
        ++done[s];
        result.moved = again = true;
      }
    }
  }
  return result;
}

bool ProgressWatch::finished() const {
  for (size_t s = 0; s < ops.size(); ++s)
    if (done[s] < ops[s].size())
      return false;
  return true;
}

std::pair<int, int> ProgressWatch::blocker() const {
  for (size_t s = 0; s < ops.size(); ++s) {
    if (done[s] == ops[s].size())
      continue;
    // Waits point at ops enqueued earlier, so this ends.
    int stream = int(s);
    int op = int(done[s]);
    for (size_t hops = 0;
         ops[size_t(stream)][size_t(op)].isWait && hops < ops.size(); ++hops) {
      const WatchedOp &wait = ops[size_t(stream)][size_t(op)];
      stream = wait.waitStream;
      op = int(done[size_t(stream)]);
      if (size_t(op) >= ops[size_t(stream)].size())
        break; // cannot happen: the wait would be complete
    }
    return {stream, op};
  }
  return {-1, -1};
}

} // namespace pwrt
