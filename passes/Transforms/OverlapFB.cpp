//===- OverlapFB.cpp - plan overlapped pairs on two streams ---------------===//
//
// For every sched.overlap whose stages have components, plans the pair with
// the overlap library and records the order in the op's body. Pairs of the
// same two stages share one plan.
//
//===----------------------------------------------------------------------===//

#include "passes/Transforms/Passes.h"

#include <map>

namespace pipeweave {
#define GEN_PASS_DEF_SCHEDOVERLAPFB
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct SchedOverlapFBPass
    : pipeweave::impl::SchedOverlapFBBase<SchedOverlapFBPass> {
  using SchedOverlapFBBase::SchedOverlapFBBase;

  void runOnOperation() override {
    sched::ProgramOp program = getOperation();
    // Nothing to plan without components: skip decoding the program.
    DictionaryAttr costs = program.getCostModelAttr();
    if (!costs || !costs.get("component_lists"))
      return markAllAnalysesPreserved();
    FailureOr<sched::ProgramValue> value = sched::toProgramValue(program);
    if (failed(value))
      return signalPassFailure();

    overlap::PlanOptions options;
    options.maxLabels = maxLabels;
    struct Planned {
      overlap::PairProblem problem;
      overlap::Plan plan;
    };
    std::map<std::pair<int, int>, std::optional<Planned>> planned;
    const schedule::Schedule &s = value->schedule;
    for (int rank = 0; rank < s.numRanks; ++rank) {
      for (int index = 0, e = s.ranks[rank].size(); index < e; ++index) {
        const schedule::Action &action = s.ranks[rank][index];
        if (action.kind != schedule::ActionKind::OverlapFB)
          continue;
        auto pair = cast<sched::OverlapOp>(value->actionOps[rank][index]);
        auto [it, inserted] =
            planned.try_emplace({action.stage, action.stage2});
        if (inserted) {
          std::optional<overlap::PairProblem> problem =
              sched::pairProblemOf(action, *value->costs);
          if (!problem)
            continue;
          if (std::optional<std::string> error =
                  overlap::checkProblem(*problem)) {
            pair.emitError()
                << "cannot plan the components of this pair: " << *error;
            return signalPassFailure();
          }
          overlap::Plan plan = overlap::planPair(*problem, options);
          it->second = Planned{std::move(*problem), std::move(plan)};
        }
        if (it->second)
          sched::writePlan(pair, it->second->problem, it->second->plan.order);
      }
    }
  }
};
} // namespace
