//===- Comm.cpp - Inserting point-to-point communication ------------------===//
//
// Lowers a compute-only schedule to one with explicit sends and receives.
// Each message gets one send and one receive placed at the same round
// boundary of a lock-step run of the compute order, so that grouped blocking
// point-to-point operations cannot deadlock.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"

#include <climits>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;

namespace {
/// Round of an action that never runs in the lock-step run (only for
/// schedules that are not causally valid).
constexpr int never = INT_MAX;

/// A lock-step run of the compute order: in each round, every rank runs its
/// next compute action if all its inputs were produced in earlier rounds.
struct LockStepRun {
  /// Per rank, the round of each of its actions (comm actions: unused).
  std::vector<std::vector<int>> roundOf;
  /// Per tensor, the round of its consumer on the next/previous stage.
  std::vector<int> crossStageConsumerRound;
};

LockStepRun runLockStep(const Schedule &schedule, const TensorIndex &tensors) {
  int numRanks = schedule.ranks.size();
  LockStepRun run;
  run.roundOf.resize(numRanks);
  for (int rank = 0; rank < numRanks; ++rank)
    run.roundOf[rank].assign(schedule.ranks[rank].size(), never);
  run.crossStageConsumerRound.assign(tensors.size(), never);
  std::vector<int> producedRound(tensors.size(), never);
  std::vector<int> cursor(numRanks, 0);

  auto isReady = [&](const Action &action, int round) {
    for (const ComputeOp &op : computeOpsOf(action))
      for (const Tensor &input : inputsOf(schedule, op))
        if (int64_t key = tensors.of(input);
            key < 0 || producedRound[key] >= round)
          return false;
    return true;
  };
  auto runAction = [&](const Action &action, int round) {
    for (const ComputeOp &op : computeOpsOf(action)) {
      for (const Tensor &input : inputsOf(schedule, op))
        if (input.stage != op.stage)
          run.crossStageConsumerRound[tensors.of(input)] = round;
      if (std::optional<Tensor> output = outputOf(op))
        if (int64_t key = tensors.of(*output); key >= 0)
          producedRound[key] = round;
    }
  };

  bool progress = true;
  for (int round = 0; progress; ++round) {
    progress = false;
    for (int rank = 0; rank < numRanks; ++rank) {
      const std::vector<Action> &actions = schedule.ranks[rank];
      int &next = cursor[rank];
      while (next < static_cast<int>(actions.size()) && actions[next].isComm())
        ++next; // Existing comm is replaced, not simulated.
      if (next == static_cast<int>(actions.size()) ||
          !isReady(actions[next], round))
        continue;
      runAction(actions[next], round);
      run.roundOf[rank][next++] = round;
      progress = true;
    }
  }
  return run;
}

class CommInserter {
public:
  explicit CommInserter(const Schedule &schedule)
      : schedule(schedule),
        placement(stagePlacement(schedule, /*includeComm=*/false)),
        tensors(schedule), lockStep(runLockStep(schedule, tensors)) {}

  std::vector<Action> lowerRank(int rank) const {
    std::vector<Action> lowered;
    lowered.reserve(2 * schedule.ranks[rank].size());
    std::vector<PendingSend> pending;
    const std::vector<Action> &actions = schedule.ranks[rank];
    for (int index = 0, e = actions.size(); index < e; ++index) {
      const Action &action = actions[index];
      if (action.isComm())
        continue; // Existing comm is replaced, not kept.
      flushDueSends(lockStep.roundOf[rank][index], pending, lowered);
      appendRecvs(rank, action, lowered);
      lowered.push_back(action);
      addSends(rank, action, pending);
    }
    flushDueSends(never, pending, lowered);
    return lowered;
  }

private:
  /// A send waiting for the round in which its consumer runs.
  struct PendingSend {
    int dueRound;
    Action send;
  };

  /// The rank running `stage`, or -1 if unknown.
  int rankOf(int stage) const {
    return stage >= 0 && stage < static_cast<int>(placement.size())
               ? placement[stage]
               : -1;
  }

  /// Message size of `payload` leaving `sendingStage`; 0 when unknown.
  int64_t bytesOf(Payload payload, int sendingStage) const {
    const std::vector<int64_t> &bytes = payload == Payload::Activation
                                            ? schedule.activationBytes
                                            : schedule.gradientBytes;
    return sendingStage >= 0 && sendingStage < static_cast<int>(bytes.size())
               ? bytes[sendingStage]
               : 0;
  }

  /// Queues sends of the outputs of `action` whose consumer runs on another
  /// rank, due when that consumer runs.
  void addSends(int rank, const Action &action,
                std::vector<PendingSend> &pending) const {
    for (const ComputeOp &op : computeOpsOf(action)) {
      std::optional<Tensor> output = outputOf(op);
      if (!output)
        continue;
      int peer = rankOf(consumerStageOf(schedule, *output));
      int64_t key = tensors.of(*output);
      if (peer < 0 || peer == rank || key < 0)
        continue;
      pending.push_back(
          {lockStep.crossStageConsumerRound[key],
           Action::send(output->payload, output->stage, output->microbatch,
                        peer, bytesOf(output->payload, output->stage))});
    }
  }

  /// Moves the sends due by `round` to `out`, in the order they were queued.
  static void flushDueSends(int round, std::vector<PendingSend> &pending,
                            std::vector<Action> &out) {
    std::size_t kept = 0;
    for (PendingSend &send : pending) {
      if (send.dueRound <= round)
        out.push_back(send.send);
      else
        pending[kept++] = send;
    }
    pending.resize(kept);
  }

  /// Receives of the inputs of `action` produced on another rank.
  void appendRecvs(int rank, const Action &action,
                   std::vector<Action> &out) const {
    for (const ComputeOp &op : computeOpsOf(action)) {
      for (const Tensor &input : inputsOf(schedule, op)) {
        int peer = rankOf(input.stage);
        if (peer < 0 || peer == rank)
          continue;
        out.push_back(Action::recv(input.payload, op.stage, op.microbatch, peer,
                                   bytesOf(input.payload, input.stage)));
      }
    }
  }

  const Schedule &schedule;
  std::vector<int> placement;
  TensorIndex tensors;
  LockStepRun lockStep;
};
} // namespace

Schedule pipeweave::schedule::insertCommunication(const Schedule &computeOnly) {
  CommInserter inserter(computeOnly);
  Schedule lowered = computeOnly;
  for (int rank = 0, e = lowered.ranks.size(); rank < e; ++rank)
    lowered.ranks[rank] = inserter.lowerRank(rank);
  return lowered;
}
