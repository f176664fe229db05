//===- BufferPlan.cpp - Static buffer plan of a schedule ------------------===//

#include "passes/BufferPlan/BufferPlan.h"

#include <algorithm>
#include <map>
#include <queue>
#include <tuple>
#include <unordered_map>

using namespace pipeweave::plan;
using namespace pipeweave::schedule;

std::string_view pipeweave::plan::bufferKindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Activation:
    return "activation";
  case BufferKind::ReceivedActivation:
    return "received_activation";
  case BufferKind::Saved:
    return "saved";
  case BufferKind::OutputGradient:
    return "output_gradient";
  case BufferKind::InputGradient:
    return "input_gradient";
  }
  return "unknown";
}

namespace {
/// Collects one rank's buffers and their lifetimes while walking its
/// actions in order.
class RankLifetimes {
public:
  RankLifetimes(const Schedule &schedule, const CostModel &costs, int rank,
                const std::vector<int> &rankOfStage)
      : schedule(schedule), costs(costs), rank(rank), rankOfStage(rankOfStage),
        indexOf(localStages(rankOfStage, rank), schedule.numStages,
                schedule.numMicrobatches) {}

  static std::vector<int> localStages(const std::vector<int> &rankOfStage,
                                      int rank) {
    std::vector<int> stages;
    for (int stage = 0; stage < static_cast<int>(rankOfStage.size()); ++stage)
      if (rankOfStage[stage] == rank)
        stages.push_back(stage);
    return stages;
  }

  std::vector<Buffer> run() {
    const std::vector<Action> &actions = schedule.ranks[rank];
    // A group of consecutive send/recv actions is posted at once: its
    // receives may write from the group's first action on and its sends
    // read until its last.
    int count = actions.size();
    groupStart.assign(count, 0);
    groupEnd.assign(count, 0);
    for (int index = 0; index < count; ++index)
      groupStart[index] =
          index > 0 && actions[index].isComm() && actions[index - 1].isComm()
              ? groupStart[index - 1]
              : index;
    for (int index = count - 1; index >= 0; --index)
      groupEnd[index] = index + 1 < count && actions[index].isComm() &&
                                actions[index + 1].isComm()
                            ? groupEnd[index + 1]
                            : index;
    for (int index = 0; index < count; ++index) {
      const Action &action = actions[index];
      switch (action.kind) {
      case ActionKind::Forward:
        forward(action.stage, action.microbatch, index);
        break;
      case ActionKind::BackwardInput:
      case ActionKind::Backward:
        backward(action.stage, action.microbatch, index);
        break;
      case ActionKind::BackwardWeight:
        weight(action.stage, action.microbatch, index);
        break;
      case ActionKind::OverlapFB:
        forward(action.stage, action.microbatch, index);
        backward(action.stage2, action.microbatch2, index);
        break;
      case ActionKind::Send: {
        BufferKind kind = action.payload == Payload::Activation
                              ? BufferKind::Activation
                              : BufferKind::InputGradient;
        use(kind, action.stage, action.microbatch, groupEnd[index]).sent = true;
        break;
      }
      case ActionKind::Recv:
        define(action.payload == Payload::Activation
                   ? BufferKind::ReceivedActivation
                   : BufferKind::OutputGradient,
               action.stage, action.microbatch, groupStart[index]);
        break;
      }
    }
    return std::move(buffers);
  }

private:
  /// A last stage whose loss runs as its own kernel right after F.
  bool hasLoss(int stage) const {
    return schedule.nextStage(stage) < 0 && !costs.stages.empty() &&
           !costs.stages[stage].kernels.loss.empty();
  }
  bool hasOutputGradient(int stage) const {
    return schedule.nextStage(stage) >= 0 || hasLoss(stage);
  }

  bool isLocal(int stage) const {
    return stage >= 0 && rankOfStage[stage] == rank;
  }

  int64_t activationBytes(int stage) const {
    return costs.stages.empty() ? 0 : costs.stages[stage].activationBytes;
  }
  int64_t gradientBytes(int stage) const {
    return costs.stages.empty() ? 0 : costs.stages[stage].gradientBytes;
  }

  int64_t sizeOf(BufferKind kind, int stage) const {
    switch (kind) {
    case BufferKind::Activation:
      return activationBytes(stage);
    case BufferKind::ReceivedActivation:
      return activationBytes(schedule.prevStage(stage));
    case BufferKind::Saved:
      return costs.stages.empty() ? 0 : costs.stages[stage].activationMemory;
    case BufferKind::OutputGradient:
      // The loss gradient has the shape of the stage's own output.
      return hasLoss(stage) ? activationBytes(stage)
                            : gradientBytes(schedule.nextStage(stage));
    case BufferKind::InputGradient:
      return gradientBytes(stage);
    }
    return 0;
  }

  /// The buffer is written at `index` (created if it is new).
  Buffer &define(BufferKind kind, int stage, int mb, int index) {
    int &number = indexOf.at(kind, stage, mb);
    if (number < 0) {
      number = static_cast<int>(buffers.size());
      Buffer buffer;
      buffer.kind = kind;
      buffer.stage = stage;
      buffer.microbatch = mb;
      buffer.bytes = sizeOf(kind, stage);
      buffer.first = buffer.last = index;
      buffers.push_back(buffer);
    }
    return buffers[number];
  }

  /// The buffer is read at `index`; a tensor that arrives without a recv
  /// action (compute-only schedules) is taken to arrive just before.
  Buffer &use(BufferKind kind, int stage, int mb, int index) {
    Buffer &buffer = define(kind, stage, mb, index);
    buffer.last = std::max(buffer.last, index);
    return buffer;
  }

  void forward(int stage, int mb, int index) {
    int prev = schedule.prevStage(stage);
    if (prev >= 0)
      use(isLocal(prev) ? BufferKind::Activation
                        : BufferKind::ReceivedActivation,
          isLocal(prev) ? prev : stage, mb, index);
    define(BufferKind::Saved, stage, mb, index);
    if (schedule.nextStage(stage) >= 0 || hasLoss(stage))
      define(BufferKind::Activation, stage, mb, index);
    if (hasLoss(stage))
      define(BufferKind::OutputGradient, stage, mb, index);
  }

  void backward(int stage, int mb, int index) {
    use(BufferKind::Saved, stage, mb, index);
    if (hasOutputGradient(stage))
      use(BufferKind::OutputGradient, stage, mb, index);
    int prev = schedule.prevStage(stage);
    if (prev >= 0) {
      if (isLocal(prev))
        define(BufferKind::OutputGradient, prev, mb, index);
      else
        define(BufferKind::InputGradient, stage, mb, index);
    }
  }

  void weight(int stage, int mb, int index) {
    use(BufferKind::Saved, stage, mb, index);
    if (hasOutputGradient(stage))
      use(BufferKind::OutputGradient, stage, mb, index);
  }

  const Schedule &schedule;
  const CostModel &costs;
  int rank;
  const std::vector<int> &rankOfStage;
  std::vector<Buffer> buffers;
  BufferIndex indexOf;
  std::vector<int> groupStart, groupEnd;
};

/// Best-fit placement over lifetimes: buffers are taken in order of first
/// use; a buffer's range returns to the free list after its last use.
/// Among the ranges that fit, those not last held by a sent buffer win.
int64_t assignOffsets(std::vector<Buffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  auto byFirst = [&](size_t a, size_t b) {
    return buffers[a].first < buffers[b].first;
  };
  // Buffers come in order of first use but for receives, which start at
  // their group's first action: usually sorted already.
  if (!std::is_sorted(order.begin(), order.end(), byFirst))
    std::stable_sort(order.begin(), order.end(), byFirst);

  struct Range {
    int64_t offset;
    int64_t size;
    bool sent;
  };
  // Free ranges by offset, disjoint. A vector: the best-fit scan below reads
  // all of them anyway, and there are few.
  std::vector<Range> freeRanges;
  // Live buffers by last use (then placement order), so that expired ones
  // are released in order.
  using LiveBuffer = std::pair<int, size_t>; // (last use, index)
  std::priority_queue<LiveBuffer, std::vector<LiveBuffer>,
                      std::greater<LiveBuffer>>
      live;
  int64_t poolBytes = 0;
  auto release = [&](const Buffer &buffer) {
    int64_t offset = buffer.offset, size = buffer.bytes;
    bool sent = buffer.sent;
    if (size == 0)
      return;
    auto next = std::lower_bound(
        freeRanges.begin(), freeRanges.end(), offset,
        [](const Range &range, int64_t at) { return range.offset < at; });
    if (next != freeRanges.end() && offset + size == next->offset &&
        next->sent == sent) {
      size += next->size;
      next = freeRanges.erase(next);
    }
    if (next != freeRanges.begin()) {
      auto prev = std::prev(next);
      if (prev->offset + prev->size == offset && prev->sent == sent) {
        prev->size += size;
        return;
      }
    }
    freeRanges.insert(next, Range{offset, size, sent});
  };
  auto better = [](const Range &candidate, const Range &best) {
    if (candidate.sent != best.sent)
      return !candidate.sent;
    return candidate.size < best.size;
  };

  for (size_t index : order) {
    Buffer &buffer = buffers[index];
    while (!live.empty() && live.top().first < buffer.first) {
      release(buffers[live.top().second]);
      live.pop();
    }
    if (buffer.bytes > 0) {
      auto best = freeRanges.end();
      for (auto it = freeRanges.begin(); it != freeRanges.end(); ++it)
        if (it->size >= buffer.bytes &&
            (best == freeRanges.end() || better(*it, *best)))
          best = it;
      if (best != freeRanges.end()) {
        buffer.offset = best->offset;
        // The rest of the range stays free, in the same place in the order.
        best->offset += buffer.bytes;
        best->size -= buffer.bytes;
        if (best->size == 0)
          freeRanges.erase(best);
      } else {
        // Grow the pool, reusing a free range that ends at its top.
        buffer.offset = poolBytes;
        if (!freeRanges.empty()) {
          const Range &top = freeRanges.back();
          if (top.offset + top.size == poolBytes) {
            buffer.offset = top.offset;
            freeRanges.pop_back();
          }
        }
        poolBytes = buffer.offset + buffer.bytes;
      }
    }
    live.emplace(buffer.last, index);
  }
  return poolBytes;
}

/// The most bytes live at any action index, over buffers that `counts`.
template <typename Predicate>
std::pair<int64_t, int> peakLive(const std::vector<Buffer> &buffers,
                                 Predicate counts) {
  int end = 0;
  for (const Buffer &buffer : buffers)
    end = std::max(end, buffer.last + 2);
  // Per action index: the change of (bytes, count) live.
  std::vector<std::pair<int64_t, int>> delta(end, {0, 0});
  for (const Buffer &buffer : buffers) {
    if (!counts(buffer))
      continue;
    delta[buffer.first].first += buffer.bytes;
    delta[buffer.first].second += 1;
    delta[buffer.last + 1].first -= buffer.bytes;
    delta[buffer.last + 1].second -= 1;
  }
  int64_t bytes = 0, peakBytes = 0;
  int count = 0, peakCount = 0;
  for (const auto &change : delta) {
    bytes += change.first;
    count += change.second;
    peakBytes = std::max(peakBytes, bytes);
    peakCount = std::max(peakCount, count);
  }
  return {peakBytes, peakCount};
}
} // namespace

RankPlan pipeweave::plan::planRankBuffers(const Schedule &schedule,
                                          const CostModel &costs, int rank,
                                          const std::vector<int> &rankOfStage) {
  RankPlan rankPlan;
  rankPlan.buffers = RankLifetimes(schedule, costs, rank, rankOfStage).run();
  rankPlan.poolBytes = assignOffsets(rankPlan.buffers);
  rankPlan.peakLiveBytes =
      peakLive(rankPlan.buffers, [](const Buffer &) { return true; }).first;
  std::tie(rankPlan.peakSavedBytes, rankPlan.peakSavedCount) =
      peakLive(rankPlan.buffers, [](const Buffer &buffer) {
        return buffer.kind == BufferKind::Saved;
      });
  return rankPlan;
}

BufferPlan pipeweave::plan::planBuffers(const Schedule &schedule,
                                        const CostModel &costs) {
  std::vector<int> rankOfStage = schedule.stageRanks();
  BufferPlan plan;
  for (int rank = 0; rank < schedule.numRanks; ++rank)
    plan.ranks.push_back(planRankBuffers(schedule, costs, rank, rankOfStage));
  return plan;
}

int pipeweave::plan::findBuffer(const RankPlan &plan, BufferKind kind,
                                int stage, int microbatch) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const Buffer &buffer = plan.buffers[i];
    if (buffer.kind == kind && buffer.stage == stage &&
        buffer.microbatch == microbatch)
      return static_cast<int>(i);
  }
  return -1;
}

BufferIndex::BufferIndex(const std::vector<int> &denseStages, int numStages,
                         int numMicrobatches)
    : denseStage(numStages, -1), numDense(denseStages.size()),
      numMicrobatches(numMicrobatches),
      dense(static_cast<size_t>(kNumKinds) * denseStages.size() *
                std::max(numMicrobatches, 0),
            -1) {
  for (int i = 0; i < numDense; ++i)
    if (denseStages[i] >= 0 && denseStages[i] < numStages)
      denseStage[denseStages[i]] = i;
}

int BufferIndex::denseSlot(BufferKind kind, int stage, int microbatch) const {
  if (stage < 0 || stage >= static_cast<int>(denseStage.size()) ||
      denseStage[stage] < 0 || microbatch < 0 || microbatch >= numMicrobatches)
    return -1;
  return (static_cast<int>(kind) * numDense + denseStage[stage]) *
             numMicrobatches +
         microbatch;
}

int BufferIndex::find(BufferKind kind, int stage, int microbatch) const {
  int slot = denseSlot(kind, stage, microbatch);
  if (slot >= 0)
    return dense[slot];
  auto it = sparse.find({kind, stage, microbatch});
  return it == sparse.end() ? -1 : it->second;
}

int &BufferIndex::at(BufferKind kind, int stage, int microbatch) {
  int slot = denseSlot(kind, stage, microbatch);
  if (slot >= 0)
    return dense[slot];
  return sparse.try_emplace({kind, stage, microbatch}, -1).first->second;
}
