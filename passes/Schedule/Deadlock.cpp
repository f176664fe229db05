//===- Deadlock.cpp - Abstract execution of schedules ---------------------===//
//
// Runs a schedule abstractly, one cursor per rank, until every rank is done
// or none can move. Ranks blocked on another rank park until that rank's
// progress can unblock them, so the whole run is linear in the number of
// actions.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"
#include "passes/Schedule/StrCat.h"

#include <algorithm>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;

namespace {
/// Where an action sits in a schedule.
struct Position {
  int rank = -1;
  int index = -1;
  bool valid() const { return rank >= 0; }
};

/// A rank's progress.
struct RankState {
  int cursor = 0;          // next action to run
  int groupEnd = -1;       // end of the posted comm group at `cursor`, or -1
  int pending = 0;         // operations of the posted group not yet completed
  int64_t waitingFor = -1; // tensor it is parked on (dataflow mode)
  int nextWaiter = -1;     // next rank parked on the same tensor
};

class DeadlockChecker {
public:
  explicit DeadlockChecker(const Schedule &schedule)
      : schedule(schedule), tensors(schedule),
        placement(stagePlacement(schedule, /*includeComm=*/false)),
        numRanks(schedule.ranks.size()), states(numRanks),
        producerOf(tensors.size()), produced(tensors.size(), 0) {
    for (int rank = 0; rank < numRanks; ++rank)
      recordProducers(rank);
    commMode = hasComm();
    if (commMode) {
      received.assign(tensors.size(), -1);
      postedSend.assign(tensors.size(), {});
      postedRecv.assign(tensors.size(), {});
      completed.resize(numRanks);
      for (int rank = 0; rank < numRanks; ++rank)
        completed[rank].assign(schedule.ranks[rank].size(), 0);
    } else {
      firstWaiter.assign(tensors.size(), -1);
    }
  }

  DeadlockReport run() {
    for (int rank = numRanks - 1; rank >= 0; --rank)
      worklist.push_back(rank);
    while (!worklist.empty()) {
      int rank = worklist.back();
      worklist.pop_back();
      advance(rank);
    }
    return report();
  }

private:
  //===--------------------------------------------------------------------===//
  // Execution
  //===--------------------------------------------------------------------===//

  void recordProducers(int rank) {
    const std::vector<Action> &actions = schedule.ranks[rank];
    for (int index = 0, e = actions.size(); index < e; ++index)
      for (const ComputeOp &op : computeOpsOf(actions[index]))
        if (std::optional<Tensor> output = outputOf(op))
          if (int64_t key = tensors.of(*output);
              key >= 0 && !producerOf[key].valid())
            producerOf[key] = {rank, index};
  }

  bool hasComm() const {
    for (const std::vector<Action> &actions : schedule.ranks)
      for (const Action &action : actions)
        if (action.isComm())
          return true;
    return false;
  }

  /// Runs `rank` until it finishes or blocks.
  void advance(int rank) {
    RankState &state = states[rank];
    const std::vector<Action> &actions = schedule.ranks[rank];
    while (state.cursor < static_cast<int>(actions.size())) {
      const Action &action = actions[state.cursor];
      if (action.isComm()) {
        if (state.groupEnd < 0)
          postGroup(rank);
        if (state.pending > 0)
          return; // The peers' progress completes the group.
        state.cursor = state.groupEnd;
        state.groupEnd = -1;
        continue;
      }
      if (std::optional<Tensor> missing = blockingInput(rank, action)) {
        park(rank, *missing);
        return;
      }
      for (const ComputeOp &op : computeOpsOf(action))
        if (std::optional<Tensor> output = outputOf(op))
          produce(*output);
      ++state.cursor;
    }
  }

  /// The first input of `action` that is not available to `rank` yet. A
  /// cross-rank input must have been produced (dataflow mode) or received
  /// by this rank (comm mode); a local one produced.
  std::optional<Tensor> blockingInput(int rank, const Action &action) const {
    for (const ComputeOp &op : computeOpsOf(action)) {
      for (const Tensor &input : inputsOf(schedule, op)) {
        int64_t key = tensors.of(input);
        if (key < 0)
          return input;
        bool crossRank = commMode && placement[input.stage] >= 0 &&
                         placement[input.stage] != rank;
        bool available = crossRank ? received[key] == rank : produced[key];
        if (!available)
          return input;
      }
    }
    return std::nullopt;
  }

  /// Parks `rank` until `tensor` is produced. Only producers on other ranks
  /// in dataflow mode can still unblock it; otherwise it stays parked.
  void park(int rank, const Tensor &tensor) {
    int64_t key = tensors.of(tensor);
    RankState &state = states[rank];
    if (commMode || key < 0 || state.waitingFor == key)
      return;
    state.waitingFor = key;
    state.nextWaiter = firstWaiter[key];
    firstWaiter[key] = rank;
  }

  void produce(const Tensor &tensor) {
    int64_t key = tensors.of(tensor);
    if (key < 0)
      return;
    produced[key] = 1;
    if (commMode)
      return;
    for (int waiter = firstWaiter[key]; waiter >= 0;) {
      int next = states[waiter].nextWaiter;
      states[waiter].waitingFor = -1;
      states[waiter].nextWaiter = -1;
      worklist.push_back(waiter);
      waiter = next;
    }
    firstWaiter[key] = -1;
  }

  /// Posts every operation of the comm group at the rank's cursor.
  void postGroup(int rank) {
    RankState &state = states[rank];
    const std::vector<Action> &actions = schedule.ranks[rank];
    int end = state.cursor;
    while (end < static_cast<int>(actions.size()) && actions[end].isComm())
      ++end;
    state.groupEnd = end;
    state.pending = end - state.cursor;
    for (int index = state.cursor; index < end; ++index)
      post({rank, index});
  }

  /// Posts one send or recv and completes it if its peer posted the match.
  void post(Position at) {
    std::optional<int64_t> key = postableKey(at);
    if (!key)
      return; // It can never complete; the rank stays blocked.
    const Action &action = actionAt(at);
    bool isSend = action.kind == ActionKind::Send;
    Position &mine = isSend ? postedSend[*key] : postedRecv[*key];
    if (mine.valid())
      return; // A duplicate; the first operation took this message.
    mine = at;
    Position other = isSend ? postedRecv[*key] : postedSend[*key];
    if (other.valid() && other.rank == action.peer &&
        actionAt(other).peer == at.rank && !completed[other.rank][other.index])
      complete(isSend ? at : other, isSend ? other : at, *key);
  }

  /// The message key of the comm action at `at`, or std::nullopt if it can
  /// never complete: bad peer, no such tensor, or (for a send) the tensor
  /// was not computed on this rank before it.
  std::optional<int64_t> postableKey(Position at) const {
    const Action &action = actionAt(at);
    if (action.peer < 0 || action.peer >= numRanks || action.peer == at.rank)
      return std::nullopt;
    std::optional<Tensor> tensor = tensorOf(schedule, action);
    int64_t key = tensor ? tensors.of(*tensor) : -1;
    if (key < 0 || (action.kind == ActionKind::Send && !produced[key]))
      return std::nullopt;
    return key;
  }

  void complete(Position send, Position recv, int64_t key) {
    received[key] = recv.rank;
    for (Position end : {send, recv}) {
      completed[end.rank][end.index] = 1;
      if (--states[end.rank].pending == 0)
        worklist.push_back(end.rank);
    }
  }

  //===--------------------------------------------------------------------===//
  // Reporting
  //===--------------------------------------------------------------------===//

  DeadlockReport report() const {
    DeadlockReport result;
    result.numRanks = numRanks;
    for (int rank = 0; rank < numRanks; ++rank) {
      if (states[rank].cursor >= static_cast<int>(schedule.ranks[rank].size()))
        continue;
      int index = waitIndex(rank);
      Position at{rank, index};
      result.stuck.push_back(
          {rank, index,
           actionAt(at).isComm() ? describeCommWait(at) : describeInputWait(at),
           actionAt(at).str()});
    }
    result.deadlocked = !result.stuck.empty();
    return result;
  }

  /// The action a blocked rank waits at: the first incomplete operation of
  /// its posted group, else its cursor.
  int waitIndex(int rank) const {
    const RankState &state = states[rank];
    if (state.groupEnd >= 0)
      for (int index = state.cursor; index < state.groupEnd; ++index)
        if (!completed[rank][index])
          return index;
    return state.cursor;
  }

  /// "1B0" for a tensor's producer when it runs somewhere, else the
  /// action(s) that would produce it.
  std::string producerText(const Tensor &tensor, Position producer) const {
    if (producer.valid()) {
      for (const ComputeOp &op : computeOpsOf(actionAt(producer)))
        if (std::optional<Tensor> output = outputOf(op);
            output && output->payload == tensor.payload &&
            output->stage == tensor.stage &&
            output->microbatch == tensor.microbatch)
          return op.asAction().str();
    }
    if (tensor.payload == Payload::Activation)
      return Action::forward(tensor.stage, tensor.microbatch).str();
    return strCat(Action::backward(tensor.stage, tensor.microbatch).str(),
                  " or ",
                  Action::backwardInput(tensor.stage, tensor.microbatch).str());
  }

  std::string describeInputWait(Position at) const {
    std::optional<Tensor> input = blockingInput(at.rank, actionAt(at));
    if (!input)
      return "nothing (internal error)";
    int64_t key = tensors.of(*input);
    if (key < 0)
      return strCat("an input of stage ", input->stage, " micro-batch ",
                    input->microbatch, ", which is out of range");
    Position producer = producerOf[key];
    std::string name = producerText(*input, producer);
    if (!producer.valid())
      return strCat(name, ", which no rank runs (missing action)");
    int home = placement[input->stage];
    if (commMode && home != at.rank) {
      int consumer = consumerStageOf(schedule, *input);
      return strCat(
          name, " on rank ", producer.rank,
          ": its output was never received (no ",
          Action::recv(input->payload, consumer, input->microbatch, home, 0)
              .str(),
          " on this rank before this action)");
    }
    if (producer.rank == at.rank)
      return strCat(name, " on rank ", producer.rank,
                    ", which this rank runs later (action ", producer.index,
                    ")");
    return strCat(name, " on rank ", producer.rank);
  }

  std::string describeCommWait(Position at) const {
    const Action &action = actionAt(at);
    bool isSend = action.kind == ActionKind::Send;
    std::string what =
        strCat(isSend ? "send " : "recv ", action.str(),
               isSend ? " to rank " : " from rank ", action.peer, ": ");
    if (action.peer < 0 || action.peer >= numRanks)
      return strCat(what, "there is no rank ", action.peer);
    if (action.peer == at.rank)
      return strCat(what, "a rank cannot ", isSend ? "send to" : "receive from",
                    " itself");
    std::optional<Tensor> tensor = tensorOf(schedule, action);
    int64_t key = tensor ? tensors.of(*tensor) : -1;
    if (key < 0)
      return strCat(what, "no stage produces what it receives");
    if (isSend && !produced[key])
      return strCat(what, producerText(*tensor, producerOf[key]),
                    " has not run on this rank before it");
    Position first = isSend ? postedSend[key] : postedRecv[key];
    if (first.valid() && (first.rank != at.rank || first.index != at.index))
      return strCat(what, "it repeats rank ", first.rank, "'s action ",
                    first.index, ", which already took this message");
    const char *match = isSend ? "receive" : "send";
    if (states[action.peer].cursor >=
        static_cast<int>(schedule.ranks[action.peer].size()))
      return strCat(what, "rank ", action.peer,
                    " finished without posting the matching ", match);
    Position peerAt{action.peer, waitIndex(action.peer)};
    return strCat(what, "rank ", action.peer, " has not posted the matching ",
                  match, " (it waits at action ", peerAt.index, ", ",
                  actionAt(peerAt).str(), ")");
  }

  const Action &actionAt(Position at) const {
    return schedule.ranks[at.rank][at.index];
  }

  const Schedule &schedule;
  TensorIndex tensors;
  std::vector<int> placement; // compute placement of each stage
  int numRanks;
  bool commMode = false;
  std::vector<RankState> states;
  std::vector<int> worklist; // ranks that may be able to move
  // Per tensor:
  std::vector<Position> producerOf; // first compute action producing it
  std::vector<uint8_t> produced;    // whether that action has run
  std::vector<int> firstWaiter;     // dataflow: head of the parked ranks
  std::vector<int> received;        // comm: rank that received it, or -1
  std::vector<Position> postedSend, postedRecv; // comm: first posted ops
  // Comm mode, per rank and action: whether the operation completed.
  std::vector<std::vector<uint8_t>> completed;
};
} // namespace

DeadlockReport pipeweave::schedule::checkDeadlock(const Schedule &schedule) {
  return DeadlockChecker(schedule).run();
}

std::string DeadlockReport::str() const {
  if (!deadlocked)
    return "no deadlock";
  std::string text = strCat("deadlock: ", stuck.size(), " of ", numRanks,
                            " ranks cannot proceed");
  for (const StuckRank &rank : stuck)
    text += strCat("\n  rank ", rank.rank, " waits at action ", rank.index,
                   " (", rank.action, "): ", rank.waitsOn);
  return text;
}
