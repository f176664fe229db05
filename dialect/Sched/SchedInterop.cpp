//===- SchedInterop.cpp - sched IR <-> schedule library values ------------===//

#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

#include <array>
#include <map>
#include <memory>

using namespace mlir;
using namespace pipeweave::sched;
namespace schedule = pipeweave::schedule;

static schedule::Payload toLibrary(Payload payload) {
  return payload == Payload::Activation ? schedule::Payload::Activation
                                        : schedule::Payload::Gradient;
}
static Payload fromLibrary(schedule::Payload payload) {
  return payload == schedule::Payload::Activation ? Payload::Activation
                                                  : Payload::Gradient;
}

static int asInt(uint64_t value) { return static_cast<int>(value); }

/// The library action an op stands for; std::nullopt for non-action ops.
static std::optional<schedule::Action> toAction(Operation *op) {
  using schedule::Action;
  return llvm::TypeSwitch<Operation *, std::optional<Action>>(op)
      .Case([](ForwardOp a) {
        return Action::forward(asInt(a.getStage()), asInt(a.getMb()));
      })
      .Case([](BackwardInputOp a) {
        return Action::backwardInput(asInt(a.getStage()), asInt(a.getMb()));
      })
      .Case([](BackwardWeightOp a) {
        return Action::backwardWeight(asInt(a.getStage()), asInt(a.getMb()));
      })
      .Case([](BackwardOp a) {
        return Action::backward(asInt(a.getStage()), asInt(a.getMb()));
      })
      .Case([](OverlapOp a) {
        return Action::overlap(
            asInt(a.getForwardStage()), asInt(a.getForwardMb()),
            asInt(a.getBackwardStage()), asInt(a.getBackwardMb()));
      })
      .Case([](SendOp a) {
        return Action::send(toLibrary(a.getPayload()), asInt(a.getStage()),
                            asInt(a.getMb()), asInt(a.getPeer()),
                            static_cast<int64_t>(a.getBytes()));
      })
      .Case([](RecvOp a) {
        return Action::recv(toLibrary(a.getPayload()), asInt(a.getStage()),
                            asInt(a.getMb()), asInt(a.getPeer()),
                            static_cast<int64_t>(a.getBytes()));
      })
      .Default([](Operation *) { return std::nullopt; });
}

static std::vector<int64_t> toVector(std::optional<ArrayRef<int64_t>> array) {
  if (!array)
    return {};
  return std::vector<int64_t>(array->begin(), array->end());
}

Operation *pipeweave::sched::ProgramValue::opAt(int rank, int index) const {
  if (rank < 0 || rank >= static_cast<int>(actionOps.size()))
    return nullptr;
  const std::vector<Operation *> &ops = actionOps[rank];
  if (index >= 0 && index < static_cast<int>(ops.size()))
    return ops[index];
  return rankOps[rank];
}

FailureOr<ProgramValue> pipeweave::sched::toProgramValue(ProgramOp program) {
  ProgramValue value;
  schedule::Schedule &s = value.schedule;
  s.name = program.getSymName().str();
  s.kind = program.getSchedule().str();
  s.numRanks = asInt(program.getRanks());
  s.numStages = asInt(program.getStages());
  s.numMicrobatches = asInt(program.getMicrobatches());
  s.numDirections = asInt(program.getDirections());
  s.activationBytes = toVector(program.getActivationBytes());
  s.gradientBytes = toVector(program.getGradientBytes());
  s.ranks.resize(s.numRanks);
  value.actionOps.resize(s.numRanks);
  value.rankOps.resize(s.numRanks);

  for (Operation &child : program.getBody().front()) {
    auto rank = dyn_cast<RankOp>(child);
    if (!rank)
      return child.emitOpError("is not allowed in a sched.program body; "
                               "expected sched.rank");
    if (rank.getRank() >= program.getRanks())
      return rank.emitOpError()
             << "names rank " << rank.getRank() << ", but the program has "
             << program.getRanks() << " ranks (0.." << program.getRanks() - 1
             << ")";
    int index = asInt(rank.getRank());
    if (RankOp first = value.rankOps[index]) {
      InFlightDiagnostic diag = rank.emitOpError()
                                << "rank " << index << " is given twice";
      diag.attachNote(first.getLoc()) << "first given here";
      return diag;
    }
    value.rankOps[index] = rank;
    for (Operation &op : rank.getBody().front()) {
      std::optional<schedule::Action> action = toAction(&op);
      if (!action)
        return op.emitOpError("is not a sched action");
      s.ranks[index].push_back(*action);
      value.actionOps[index].push_back(&op);
    }
  }
  for (auto [index, rank] : llvm::enumerate(value.rankOps))
    if (!rank)
      return program.emitOpError()
             << "has no sched.rank " << index << "; every rank 0.."
             << program.getRanks() - 1 << " needs one (it may be empty)";
  if (DictionaryAttr costs = program.getCostModelAttr()) {
    FailureOr<schedule::CostModel> model = decodeCostModel(
        costs, program.getStages(), [&] { return program.emitOpError(); });
    if (failed(model))
      return failure();
    // Message sizes live in their own attributes (insert-comm reads them
    // without a cost model); fold them into the model's stages.
    for (auto [stage, cost] : llvm::enumerate(model->stages)) {
      if (!s.activationBytes.empty())
        cost.activationBytes = s.activationBytes[stage];
      if (!s.gradientBytes.empty())
        cost.gradientBytes = s.gradientBytes[stage];
    }
    value.costs = std::move(*model);
  }
  return value;
}

namespace {
/// The attributes of actions, made once per value: a large program has
/// hundreds of thousands of actions over few distinct numbers, and making
/// (uniquing) an attribute costs far more than looking it up here.
class ActionAttrs {
public:
  explicit ActionAttrs(MLIRContext *context)
      : context(context), i64(IntegerType::get(context, 64)) {}

  IntegerAttr integer(int64_t value) {
    IntegerAttr &attr = integers[value];
    if (!attr)
      attr = IntegerAttr::get(i64, value);
    return attr;
  }

  PayloadAttr payload(schedule::Payload payload) {
    PayloadAttr &attr = payloads[payload == schedule::Payload::Activation];
    if (!attr)
      attr = PayloadAttr::get(context, fromLibrary(payload));
    return attr;
  }

private:
  MLIRContext *context;
  Type i64;
  llvm::DenseMap<int64_t, IntegerAttr> integers;
  PayloadAttr payloads[2];
};
} // namespace

static Operation *buildAction(OpBuilder &builder, Location loc,
                              const schedule::Action &action,
                              ActionAttrs &attrs) {
  using schedule::ActionKind;
  IntegerAttr stage = attrs.integer(action.stage);
  IntegerAttr mb = attrs.integer(action.microbatch);
  switch (action.kind) {
  case ActionKind::Forward:
    return builder.create<ForwardOp>(loc, stage, mb);
  case ActionKind::BackwardInput:
    return builder.create<BackwardInputOp>(loc, stage, mb);
  case ActionKind::BackwardWeight:
    return builder.create<BackwardWeightOp>(loc, stage, mb);
  case ActionKind::Backward:
    return builder.create<BackwardOp>(loc, stage, mb);
  case ActionKind::OverlapFB:
    return builder.create<OverlapOp>(loc, stage, mb,
                                     attrs.integer(action.stage2),
                                     attrs.integer(action.microbatch2));
  case ActionKind::Send:
    return builder.create<SendOp>(loc, attrs.payload(action.payload), stage, mb,
                                  attrs.integer(action.peer),
                                  attrs.integer(action.bytes));
  case ActionKind::Recv:
    return builder.create<RecvOp>(loc, attrs.payload(action.payload), stage, mb,
                                  attrs.integer(action.peer),
                                  attrs.integer(action.bytes));
  }
  llvm_unreachable("unknown action kind");
}

Operation *pipeweave::sched::buildAction(OpBuilder &builder, Location loc,
                                         const schedule::Action &action) {
  ActionAttrs attrs(builder.getContext());
  return ::buildAction(builder, loc, action, attrs);
}

/// Appends `actions` to `rank`. `computeLocs`, when not empty, gives the
/// locations of the compute actions in order; a comm action takes the
/// location of the compute action it precedes (or the last one).
static void fillRank(OpBuilder &builder, Location rankLoc, RankOp rank,
                     const std::vector<schedule::Action> &actions,
                     ActionAttrs &attrs, ArrayRef<Location> computeLocs = {}) {
  Block &body = rank.getBody().front();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(&body);
  size_t nextCompute = 0;
  for (const schedule::Action &action : actions) {
    Location loc = rankLoc;
    if (!computeLocs.empty())
      loc = computeLocs[std::min(nextCompute, computeLocs.size() - 1)];
    if (action.isCompute())
      ++nextCompute;
    ::buildAction(builder, loc, action, attrs);
  }
}

ProgramOp pipeweave::sched::buildProgram(OpBuilder &builder, Location loc,
                                         const schedule::Schedule &s,
                                         const schedule::CostModel *costs) {
  auto program = builder.create<ProgramOp>(
      loc, s.name.empty() ? "schedule" : s.name, s.numRanks, s.numStages,
      s.numMicrobatches, s.kind, s.numDirections,
      s.activationBytes.empty()
          ? DenseI64ArrayAttr()
          : builder.getDenseI64ArrayAttr(s.activationBytes),
      s.gradientBytes.empty() ? DenseI64ArrayAttr()
                              : builder.getDenseI64ArrayAttr(s.gradientBytes),
      costs ? encodeCostModel(builder.getContext(), *costs) : DictionaryAttr());
  Block *body = new Block();
  program.getBody().push_back(body);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(body);
  ActionAttrs attrs(builder.getContext());
  for (auto [index, actions] : llvm::enumerate(s.ranks)) {
    auto rank = builder.create<RankOp>(loc, index);
    rank.getBody().push_back(new Block());
    fillRank(builder, loc, rank, actions, attrs);
  }
  return program;
}

/// Whether the compute ops of `body` are, in order, the compute actions of
/// `actions`.
static bool sameComputeOrder(Block &body,
                             const std::vector<schedule::Action> &actions) {
  auto action = actions.begin();
  for (Operation &op : body) {
    if (isa<SendOp, RecvOp>(op))
      continue;
    while (action != actions.end() && !action->isCompute())
      ++action;
    if (action == actions.end() || toAction(&op) != *action)
      return false;
    ++action;
  }
  return std::none_of(action, actions.end(),
                      [](const schedule::Action &a) { return a.isCompute(); });
}

static std::array<uint64_t, 4> planKey(OverlapOp pair) {
  return {pair.getForwardStage(), pair.getForwardMb(), pair.getBackwardStage(),
          pair.getBackwardMb()};
}

void pipeweave::sched::replaceActions(ProgramOp program,
                                      const schedule::Schedule &s) {
  OpBuilder builder(program.getContext());
  ActionAttrs attrs(builder.getContext());
  for (RankOp rank : program.getBody().getOps<RankOp>()) {
    Block &body = rank.getBody().front();
    const std::vector<schedule::Action> &actions = s.ranks[rank.getRank()];
    // Passes that rewrite a program keep its compute order: then the
    // compute ops stay as they are (with their source locations: a CSV
    // cell, a spec line; and overlapped pairs with their component plans)
    // and only the messages are made again, each at the location of the
    // compute action it precedes (or the last one).
    if (sameComputeOrder(body, actions)) {
      for (Operation &op : llvm::make_early_inc_range(body))
        if (isa<SendOp, RecvOp>(op))
          op.erase();
      Operation *next = body.empty() ? nullptr : &body.front();
      Location last = body.empty() ? rank.getLoc() : body.back().getLoc();
      for (const schedule::Action &action : actions) {
        if (action.isCompute()) {
          next = next->getNextNode();
          continue;
        }
        if (next)
          builder.setInsertionPoint(next);
        else
          builder.setInsertionPointToEnd(&body);
        ::buildAction(builder, next ? next->getLoc() : last, action, attrs);
      }
      continue;
    }
    // Otherwise build the rank again; compute actions keep their locations
    // and overlapped pairs their component plans.
    llvm::SmallVector<Location> computeLocs;
    std::map<std::array<uint64_t, 4>, std::unique_ptr<Region>> plans;
    for (Operation &op : body) {
      if (!isa<SendOp, RecvOp>(op))
        computeLocs.push_back(op.getLoc());
      if (auto pair = dyn_cast<OverlapOp>(op);
          pair && !pair.getPlan().empty()) {
        std::unique_ptr<Region> &saved = plans[planKey(pair)];
        saved = std::make_unique<Region>();
        saved->takeBody(pair.getPlan());
      }
    }
    while (!body.empty())
      body.back().erase();
    fillRank(builder, rank.getLoc(), rank, actions, attrs, computeLocs);
    if (plans.empty())
      continue;
    for (OverlapOp pair : body.getOps<OverlapOp>())
      if (auto it = plans.find(planKey(pair)); it != plans.end())
        pair.getPlan().takeBody(*it->second);
  }
}
