//===- SchedDialect.cpp - the sched dialect -------------------------------===//

#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace pipeweave::sched;
namespace schedule = pipeweave::schedule;

#include "dialect/Sched/SchedDialect.cpp.inc"
#include "dialect/Sched/SchedEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/Sched/SchedAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/Sched/SchedOps.cpp.inc"

void SchedDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/Sched/SchedAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/Sched/SchedOps.cpp.inc"
      >();
}

/// Checks the component plan of every overlapped pair that has one against
/// the program's cost model.
static LogicalResult verifyPlans(const ProgramValue &value) {
  bool ok = true;
  for (const std::vector<Operation *> &ops : value.actionOps)
    for (Operation *op : ops) {
      auto pair = dyn_cast<OverlapOp>(op);
      if (!pair || pair.getPlan().empty())
        continue;
      if (!value.costs) {
        pair.emitOpError("has a component plan, but the program has no "
                         "cost_model to check it against");
        ok = false;
        continue;
      }
      std::optional<pipeweave::overlap::PairProblem> problem =
          pairProblemOf(schedule::Action::overlap(
                            pair.getForwardStage(), pair.getForwardMb(),
                            pair.getBackwardStage(), pair.getBackwardMb()),
                        *value.costs);
      if (!problem) {
        pair.emitOpError() << "has a component plan, but neither stage "
                           << pair.getForwardStage() << " nor stage "
                           << pair.getBackwardStage()
                           << " has components in the cost_model";
        ok = false;
        continue;
      }
      ok &= succeeded(readPlan(pair, *problem));
    }
  return success(ok);
}

LogicalResult ProgramOp::verifyRegions() {
  if (getStages() % getDirections() != 0)
    return emitOpError() << "stages (" << getStages()
                         << ") must divide evenly into " << getDirections()
                         << " directions";
  if (getMicrobatches() % getDirections() != 0)
    return emitOpError() << "microbatches (" << getMicrobatches()
                         << ") must divide evenly into " << getDirections()
                         << " directions";
  for (auto [name, bytes] :
       {std::pair{"activation_bytes", getActivationBytes()},
        std::pair{"gradient_bytes", getGradientBytes()}}) {
    if (!bytes)
      continue;
    if (static_cast<int64_t>(bytes->size()) !=
        static_cast<int64_t>(getStages()))
      return emitOpError() << name << " has " << bytes->size()
                           << " entries; expected one per stage ("
                           << getStages() << ")";
    if (llvm::any_of(*bytes, [](int64_t b) { return b < 0; }))
      return emitOpError() << name << " entries must be non-negative";
  }

  FailureOr<ProgramValue> value = toProgramValue(*this);
  if (failed(value))
    return failure();

  std::vector<schedule::Problem> problems =
      schedule::validateSchedule(value->schedule);
  if (problems.empty())
    return verifyPlans(*value);
  // Report every problem at the action (or rank) it is about, so a user sees
  // all of them in one run.
  for (const schedule::Problem &problem : problems) {
    Operation *at = value->opAt(problem.rank, problem.index);
    (at ? at : getOperation())->emitError() << problem.message;
  }
  return failure();
}
