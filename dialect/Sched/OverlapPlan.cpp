//===- OverlapPlan.cpp - component plans of sched.overlap -----------------===//
//
// The body of a sched.overlap lists the items of the pair's component
// chains in an order each stream runs them; this file converts it to and
// from the overlap library's Order and checks it against the cost model.
//
//===----------------------------------------------------------------------===//

#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <algorithm>

using namespace mlir;
using namespace pipeweave::sched;
namespace overlap = pipeweave::overlap;
namespace schedule = pipeweave::schedule;

static Phase toDialect(overlap::Phase phase) {
  switch (phase) {
  case overlap::Phase::Forward:
    return Phase::Forward;
  case overlap::Phase::BackwardInput:
    return Phase::BackwardInput;
  case overlap::Phase::BackwardWeight:
    return Phase::BackwardWeight;
  case overlap::Phase::Backward:
    return Phase::Backward;
  }
  llvm_unreachable("unknown phase");
}

static Stream toDialect(overlap::Stream stream) {
  return stream == overlap::Stream::Compute ? Stream::Compute : Stream::Comm;
}

/// "backward_input \"attn\" layer 3", as the op is written.
static std::string describe(Phase phase, StringRef component, int64_t layer) {
  return (stringifyPhase(phase) + " \"" + component + "\" layer " +
          Twine(layer))
      .str();
}

std::optional<overlap::PairProblem>
pipeweave::sched::pairProblemOf(const schedule::Action &action,
                                const schedule::CostModel &costs) {
  int numStages = costs.stages.size();
  if (action.kind != schedule::ActionKind::OverlapFB || action.stage < 0 ||
      action.stage >= numStages || action.stage2 < 0 ||
      action.stage2 >= numStages)
    return std::nullopt;
  const schedule::StageCost &forward = costs.stages[action.stage];
  const schedule::StageCost &backward = costs.stages[action.stage2];
  if (!forward.hasComponents() && !backward.hasComponents())
    return std::nullopt;
  return overlap::pairProblem(forward, backward);
}

FailureOr<overlap::Order>
pipeweave::sched::readPlan(OverlapOp op, const overlap::PairProblem &problem) {
  llvm::StringMap<int> idOf;
  for (int id = 0, e = problem.numItems(); id < e; ++id) {
    const overlap::Item &item = problem.item(id);
    idOf[describe(toDialect(item.phase), item.component, item.layer)] = id;
  }
  std::vector<ComponentOp> opOf(problem.numItems());
  overlap::Order order;
  for (ComponentOp component : op.getPlan().getOps<ComponentOp>()) {
    std::string text = describe(component.getPhase(), component.getComponent(),
                                component.getLayer());
    auto it = idOf.find(text);
    if (it == idOf.end()) {
      bool forward = component.getPhase() == Phase::Forward;
      return component.emitOpError()
             << text << " is not an item of this pair: the "
             << (forward ? "forward" : "backward") << " chunk is stage "
             << (forward ? op.getForwardStage() : op.getBackwardStage());
    }
    int id = it->second;
    if (ComponentOp first = opOf[id]) {
      InFlightDiagnostic diag = component.emitOpError()
                                << text << " appears twice in the plan";
      diag.attachNote(first.getLoc()) << "first here";
      return diag;
    }
    Stream stream = toDialect(problem.item(id).stream);
    if (component.getStream() != stream)
      return component.emitOpError()
             << text << " runs on " << stringifyStream(stream) << ", not on "
             << stringifyStream(component.getStream());
    opOf[id] = component;
    order.push_back(id);
  }
  for (int id = 0, e = problem.numItems(); id < e; ++id)
    if (!opOf[id]) {
      const overlap::Item &item = problem.item(id);
      return op.emitOpError()
             << "plan leaves out " << problem.numItems() - order.size()
             << " of the pair's " << problem.numItems() << " items, e.g. "
             << describe(toDialect(item.phase), item.component, item.layer);
    }
  overlap::EvaluateResult timed = overlap::evaluate(problem, order);
  if (!timed.evaluation)
    return op.emitOpError() << "plan " << timed.error;
  return order;
}

void pipeweave::sched::writePlan(OverlapOp op,
                                 const overlap::PairProblem &problem,
                                 const overlap::Order &order) {
  // Items in the order they start; on a tie, the plan's order (which keeps
  // each stream's order, since zero-length items are the only ties there).
  std::vector<overlap::TimedItem> timeline;
  if (overlap::EvaluateResult timed = overlap::evaluate(problem, order);
      timed.evaluation)
    timeline = std::move(timed.evaluation->timeline);
  std::stable_sort(
      timeline.begin(), timeline.end(),
      [](const overlap::TimedItem &a, const overlap::TimedItem &b) {
        return a.start < b.start;
      });
  Region &plan = op.getPlan();
  plan.getBlocks().clear();
  Block *body = new Block();
  plan.push_back(body);
  OpBuilder builder = OpBuilder::atBlockEnd(body);
  for (const overlap::TimedItem &timed : timeline) {
    const overlap::Item &item = problem.item(timed.item);
    builder.create<ComponentOp>(op.getLoc(), toDialect(item.phase),
                                item.component, item.layer,
                                toDialect(item.stream));
  }
}

LogicalResult OverlapOp::verifyRegions() {
  if (getPlan().empty())
    return success();
  for (Operation &child : getPlan().front())
    if (!isa<ComponentOp>(child))
      return child.emitOpError("is not allowed in a sched.overlap plan; "
                               "expected sched.component");
  return success();
}
