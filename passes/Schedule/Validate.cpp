//===- Validate.cpp - Structural validity of schedules --------------------===//
//
// Checks that a schedule runs every stage on one rank, every forward and
// backward exactly once in a causal order, and that its sends and receives
// pair up. A superset of PyTorch pipelining's `_validate_schedule`.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"
#include "passes/Schedule/StrCat.h"

#include <algorithm>
#include <tuple>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;

/// "forward", "full backward", ... as used in messages.
static const char *opName(ActionKind kind) {
  switch (kind) {
  case ActionKind::Forward:
    return "forward";
  case ActionKind::Backward:
    return "full backward";
  case ActionKind::BackwardInput:
    return "backward-input";
  case ActionKind::BackwardWeight:
    return "backward-weight";
  default:
    return "action";
  }
}

/// "micro-batch 3" or "micro-batches 0-4, 7, 9".
static std::string microbatchList(const std::vector<int> &mbs) {
  std::string text = mbs.size() == 1 ? "micro-batch " : "micro-batches ";
  for (std::size_t i = 0; i < mbs.size();) {
    std::size_t runEnd = i;
    while (runEnd + 1 < mbs.size() && mbs[runEnd + 1] == mbs[runEnd] + 1)
      ++runEnd;
    text += strCat(i == 0 ? "" : ", ", mbs[i]);
    if (runEnd >= i + 2) {
      text += strCat("-", mbs[runEnd]);
      i = runEnd + 1;
    } else {
      ++i;
    }
  }
  return text;
}

/// "send 0SEND_F1" or "recv 1RECV_F1".
static std::string describeComm(const Action &action) {
  return strCat(action.kind == ActionKind::Send ? "send " : "recv ",
                action.str());
}

namespace {
/// How often each kind of compute op ran so far for one (stage, micro-batch).
struct OpCounts {
  int forward = 0;
  int backward = 0; // B
  int backwardInput = 0;
  int backwardWeight = 0;

  int &of(ActionKind kind) {
    switch (kind) {
    case ActionKind::Forward:
      return forward;
    case ActionKind::Backward:
      return backward;
    case ActionKind::BackwardInput:
      return backwardInput;
    default:
      return backwardWeight;
    }
  }
  bool hasBackward() const { return backward + backwardInput > 0; }
};

/// One end of a message, for pairing sends with receives.
struct CommEnd {
  Tensor tensor;
  int sender = -1;
  int receiver = -1;
  bool isSend = false;
  int rank = -1;
  int index = -1;

  auto messageKey() const {
    return std::make_tuple(tensor.payload, tensor.stage, tensor.microbatch,
                           sender, receiver);
  }
};

class Validator {
public:
  explicit Validator(const Schedule &schedule) : schedule(schedule) {}

  std::vector<Problem> run() {
    if (!checkShape())
      return std::move(shapeProblems);
    numStages = schedule.numStages;
    microbatches = schedule.microbatchesPerStage();
    placement = stagePlacement(schedule, /*includeComm=*/false);
    conflictReportedOn.assign(numStages, -1);
    counts.assign(static_cast<std::size_t>(numStages) * microbatches, {});

    for (int rank = 0, e = schedule.ranks.size(); rank < e; ++rank)
      for (int index = 0, n = schedule.ranks[rank].size(); index < n; ++index)
        checkAction(rank, index);
    checkCommPairs();
    reportMissing();

    std::stable_sort(actionProblems.begin(), actionProblems.end(),
                     [](const Problem &a, const Problem &b) {
                       return std::tie(a.rank, a.index) <
                              std::tie(b.rank, b.index);
                     });
    std::vector<Problem> problems = std::move(shapeProblems);
    problems.insert(problems.end(), actionProblems.begin(),
                    actionProblems.end());
    problems.insert(problems.end(), missingProblems.begin(),
                    missingProblems.end());
    return problems;
  }

private:
  //===--------------------------------------------------------------------===//
  // Whole-schedule shape
  //===--------------------------------------------------------------------===//

  /// Checks the counts; false when they are too broken to look further.
  bool checkShape() {
    const Schedule &s = schedule;
    if (static_cast<int>(s.ranks.size()) != s.numRanks)
      addShapeProblem("schedule lists actions for ", s.ranks.size(),
                      " ranks but numRanks is ", s.numRanks);
    checkBytes("activationBytes", s.activationBytes);
    checkBytes("gradientBytes", s.gradientBytes);
    if (s.numDirections < 1) {
      addShapeProblem("numDirections must be >= 1 (got ", s.numDirections, ")");
      return false;
    }
    if (s.numStages < 1 || s.numMicrobatches < 1) {
      addShapeProblem("numStages and numMicrobatches must be >= 1 (got ",
                      s.numStages, " and ", s.numMicrobatches, ")");
      return false;
    }
    bool divisible = true;
    if (s.numStages % s.numDirections != 0) {
      addShapeProblem("numStages ", s.numStages,
                      " is not a multiple of numDirections ", s.numDirections);
      divisible = false;
    }
    if (s.numMicrobatches % s.numDirections != 0) {
      addShapeProblem("numMicrobatches ", s.numMicrobatches,
                      " is not a multiple of numDirections ", s.numDirections);
      divisible = false;
    }
    return divisible;
  }

  void checkBytes(const char *name, const std::vector<int64_t> &bytes) {
    if (!bytes.empty() && static_cast<int>(bytes.size()) != schedule.numStages)
      addShapeProblem(name, " has ", bytes.size(),
                      " entries; it needs none or one per stage (",
                      schedule.numStages, ")");
  }

  //===--------------------------------------------------------------------===//
  // Per action
  //===--------------------------------------------------------------------===//

  void checkAction(int rank, int index) {
    const Action &action = schedule.ranks[rank][index];
    if (action.isComm()) {
      checkComm(rank, index, action);
      return;
    }
    PairList<ComputeOp> ops = computeOpsOf(action);
    for (const ComputeOp &op : ops)
      if (!inRange(rank, index, action, op.stage, op.microbatch))
        return;
    for (const ComputeOp &op : ops)
      checkComputeOp(rank, index, op);
    if (ops.size() == 2 && ops[0].stage == ops[1].stage &&
        ops[0].microbatch == ops[1].microbatch)
      addProblem(rank, index, "overlapped pair ", action.str(),
                 " runs the forward and backward of the same stage and "
                 "micro-batch; it must pair different ones");
  }

  bool inRange(int rank, int index, const Action &action, int stage, int mb) {
    if (stage < 0 || stage >= numStages) {
      addProblem(rank, index, action.str(), " names stage ", stage,
                 ", outside [0, ", numStages, ")");
      return false;
    }
    if (mb < 0 || mb >= microbatches) {
      addProblem(rank, index, action.str(), " names micro-batch ", mb,
                 ", outside [0, ", microbatches, ")");
      return false;
    }
    return true;
  }

  void checkComputeOp(int rank, int index, const ComputeOp &op) {
    checkPlacement(rank, index, op.stage);
    OpCounts &count = countsOf(op.stage, op.microbatch);
    auto what = [&] {
      return strCat(opName(op.kind), " of stage ", op.stage, " micro-batch ",
                    op.microbatch);
    };
    for (const Tensor &input : inputsOf(schedule, op))
      if (input.stage == op.stage && !isProduced(input))
        addProblem(rank, index, what(), " runs before its ",
                   input.payload == Payload::Activation ? "forward"
                                                        : "backward-input");

    bool isBackward =
        op.kind == ActionKind::Backward || op.kind == ActionKind::BackwardInput;
    if (count.of(op.kind) > 0)
      addProblem(rank, index, what(), " runs twice");
    else if (isBackward && count.hasBackward())
      addProblem(rank, index, "stage ", op.stage, " micro-batch ",
                 op.microbatch,
                 " has both a full backward (B) and a backward-input (I); it "
                 "needs exactly one");
    if (op.kind == ActionKind::BackwardWeight && count.backward > 0)
      addProblem(rank, index, what(),
                 " follows a full backward (B), which already includes it; W "
                 "only goes with I");
    ++count.of(op.kind);
  }

  /// Reports the first action of `stage` on each rank after the first.
  void checkPlacement(int rank, int index, int stage) {
    int home = placement[stage];
    if (home == rank || conflictReportedOn[stage] == rank)
      return;
    conflictReportedOn[stage] = rank;
    addProblem(rank, index, "stage ", stage, " runs on rank ", home,
               " and rank ", rank, "; a stage must run on exactly one rank");
  }

  void checkComm(int rank, int index, const Action &action) {
    if (!inRange(rank, index, action, action.stage, action.microbatch))
      return;
    bool isSend = action.kind == ActionKind::Send;
    int numRanks = schedule.ranks.size();
    bool peerValid =
        action.peer >= 0 && action.peer < numRanks && action.peer != rank;
    if (action.peer == rank)
      addProblem(rank, index, describeComm(action), " on rank ", rank,
                 " names its own rank as peer");
    else if (!peerValid)
      addProblem(rank, index, describeComm(action), " on rank ", rank,
                 " has peer ", action.peer, ", which is not a rank (0..",
                 numRanks - 1, ")");

    int home = placement[action.stage];
    bool localStageHere = home == rank;
    if (!localStageHere)
      addProblem(rank, index, describeComm(action), " is on rank ", rank,
                 ", but stage ", action.stage,
                 home < 0 ? " runs no compute action"
                          : strCat(" runs on rank ", home),
                 isSend ? "; the sending stage must run on the sender"
                        : "; the receiving stage must run on the receiver");

    int remoteStage = remoteStageOf(schedule, action);
    if (remoteStage < 0) {
      addProblem(rank, index, describeComm(action), " has no stage to ",
                 isSend ? "send to" : "receive from", ": stage ", action.stage,
                 " is the ", endOfDirection(action.payload, isSend),
                 " stage of its direction");
      return;
    }
    int remoteHome = placement[remoteStage];
    if (peerValid && remoteHome >= 0 && remoteHome != action.peer)
      addProblem(rank, index, describeComm(action),
                 isSend ? " goes to" : " comes from", " rank ", action.peer,
                 ", but its ", isSend ? "receiving" : "sending", " stage ",
                 remoteStage, " runs on rank ", remoteHome);
    Tensor tensor = *tensorOf(schedule, action); // exists: remoteStage >= 0
    if (localStageHere)
      checkCommOrder(rank, index, action, tensor);
    if (peerValid)
      commEnds.push_back({tensor, isSend ? rank : action.peer,
                          isSend ? action.peer : rank, isSend, rank, index});
  }

  /// Which end of its direction a stage is at when it has no neighbour to
  /// exchange `payload` with: activations flow toward the last stage,
  /// gradients toward the first.
  static const char *endOfDirection(Payload payload, bool isSend) {
    bool towardLast = (payload == Payload::Activation) == isSend;
    return towardLast ? "last" : "first";
  }

  /// A send must follow the compute producing its tensor; a receive must
  /// precede the compute consuming it.
  void checkCommOrder(int rank, int index, const Action &action,
                      const Tensor &tensor) {
    const char *compute =
        action.payload == Payload::Activation ? "forward" : "backward (B or I)";
    if (action.kind == ActionKind::Send) {
      if (!isProduced(tensor))
        addProblem(rank, index, describeComm(action), " comes before the ",
                   compute, " of stage ", tensor.stage, " micro-batch ",
                   tensor.microbatch, ", which produces what it sends");
      return;
    }
    Tensor consumed{action.payload, action.stage, action.microbatch};
    if (isProduced(consumed))
      addProblem(rank, index, describeComm(action), " comes after the ",
                 compute, " of stage ", action.stage, " micro-batch ",
                 action.microbatch, ", which consumes it");
  }

  //===--------------------------------------------------------------------===//
  // Whole-schedule checks
  //===--------------------------------------------------------------------===//

  /// Every send needs exactly one receive and vice versa.
  void checkCommPairs() {
    std::stable_sort(commEnds.begin(), commEnds.end(),
                     [](const CommEnd &a, const CommEnd &b) {
                       return a.messageKey() < b.messageKey();
                     });
    for (std::size_t begin = 0; begin < commEnds.size();) {
      std::size_t end = begin;
      while (end < commEnds.size() &&
             commEnds[end].messageKey() == commEnds[begin].messageKey())
        ++end;
      checkMessage(begin, end);
      begin = end;
    }
  }

  /// Checks the ends [begin, end) of one message.
  void checkMessage(std::size_t begin, std::size_t end) {
    const CommEnd *firstSend = nullptr, *firstRecv = nullptr;
    for (std::size_t i = begin; i < end; ++i) {
      const CommEnd &commEnd = commEnds[i];
      const CommEnd *&first = commEnd.isSend ? firstSend : firstRecv;
      if (first)
        addProblem(commEnd.rank, commEnd.index, describe(commEnd),
                   " repeats the ", commEnd.isSend ? "send" : "receive",
                   " at action ", first->index,
                   "; a message is sent and received exactly once");
      else
        first = &commEnd;
    }
    if (firstSend && firstRecv)
      return;
    const CommEnd &lone = firstSend ? *firstSend : *firstRecv;
    addProblem(lone.rank, lone.index, describe(lone), " has no matching ",
               lone.isSend ? "receive " : "send ", counterpart(lone),
               " on rank ", lone.isSend ? lone.receiver : lone.sender);
  }

  /// "send 0SEND_F1 to rank 1" or "recv 1RECV_F1 from rank 0".
  std::string describe(const CommEnd &commEnd) const {
    const Action &action = schedule.ranks[commEnd.rank][commEnd.index];
    return commEnd.isSend
               ? strCat(describeComm(action), " to rank ", commEnd.receiver)
               : strCat(describeComm(action), " from rank ", commEnd.sender);
  }

  /// The text of the action that would match `commEnd`.
  std::string counterpart(const CommEnd &commEnd) const {
    const Tensor &t = commEnd.tensor;
    if (commEnd.isSend)
      return Action::recv(t.payload, consumerStageOf(schedule, t), t.microbatch,
                          commEnd.sender, 0)
          .str();
    return Action::send(t.payload, t.stage, t.microbatch, commEnd.receiver, 0)
        .str();
  }

  /// Whole-schedule problems for compute ops that never ran.
  void reportMissing() {
    for (int stage = 0; stage < numStages; ++stage) {
      std::vector<int> noForward, noBackward, noWeight;
      for (int mb = 0; mb < microbatches; ++mb) {
        const OpCounts &count = countsOf(stage, mb);
        if (count.forward == 0)
          noForward.push_back(mb);
        if (!count.hasBackward())
          noBackward.push_back(mb);
        if (count.backwardInput > 0 && count.backwardWeight == 0)
          noWeight.push_back(mb);
      }
      if (!noForward.empty())
        addMissing("stage ", stage, " is missing forward for ",
                   microbatchList(noForward));
      if (!noBackward.empty())
        addMissing("stage ", stage, " is missing backward (B or I) for ",
                   microbatchList(noBackward));
      if (!noWeight.empty())
        addMissing("stage ", stage, " is missing backward-weight (W) for ",
                   microbatchList(noWeight), ", which ran backward-input (I)");
    }
  }

  //===--------------------------------------------------------------------===//
  // Helpers
  //===--------------------------------------------------------------------===//

  OpCounts &countsOf(int stage, int mb) {
    return counts[static_cast<std::size_t>(stage) * microbatches + mb];
  }

  /// Whether the compute op producing `tensor` has run so far.
  bool isProduced(const Tensor &tensor) {
    OpCounts &count = countsOf(tensor.stage, tensor.microbatch);
    return tensor.payload == Payload::Activation ? count.forward > 0
                                                 : count.hasBackward();
  }

  template <typename... Parts>
  void addProblem(int rank, int index, const Parts &...parts) {
    actionProblems.push_back({rank, index, strCat(parts...)});
  }
  template <typename... Parts> void addShapeProblem(const Parts &...parts) {
    shapeProblems.push_back({-1, -1, strCat(parts...)});
  }
  template <typename... Parts> void addMissing(const Parts &...parts) {
    missingProblems.push_back({-1, -1, strCat(parts...)});
  }

  const Schedule &schedule;
  int numStages = 0;
  int microbatches = 0;
  std::vector<int> placement;          // compute placement of each stage
  std::vector<int> conflictReportedOn; // last rank reported per stage
  std::vector<OpCounts> counts;        // per (stage, micro-batch)
  std::vector<CommEnd> commEnds;
  std::vector<Problem> shapeProblems, actionProblems, missingProblems;
};
} // namespace

std::vector<Problem>
pipeweave::schedule::validateSchedule(const Schedule &schedule) {
  return Validator(schedule).run();
}
