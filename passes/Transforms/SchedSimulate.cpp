//===- SchedSimulate.cpp - record the simulated cost on a sched.program ---===//

#include "passes/Simulate/Simulator.h"
#include "passes/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include <map>

namespace pipeweave {
#define GEN_PASS_DEF_SCHEDSIMULATE
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

FailureOr<simulate::Simulation>
pipeweave::simulateProgram(sched::ProgramOp program) {
  FailureOr<sched::ProgramValue> value = sched::toProgramValue(program);
  if (failed(value))
    return failure();
  if (!value->costs)
    return program.emitError() << "@" << program.getSymName()
                               << " has no cost_model to simulate; compile "
                                  "it from a pipe spec";
  // Overlapped pairs with components cost their plan's makespan: the plan
  // recorded on the op (sched-overlap-fb), else the planner's best.
  simulate::SimulateOptions options;
  overlap::PairSummaries pairs;
  std::map<std::pair<int, int>, std::optional<overlap::PairProblem>> problems;
  const schedule::Schedule &s = value->schedule;
  for (int rank = 0; rank < s.numRanks; ++rank) {
    for (int index = 0, e = s.ranks[rank].size(); index < e; ++index) {
      const schedule::Action &action = s.ranks[rank][index];
      if (action.kind != schedule::ActionKind::OverlapFB)
        continue;
      auto [it, inserted] = problems.try_emplace({action.stage, action.stage2});
      if (inserted)
        it->second = sched::pairProblemOf(action, *value->costs);
      if (!it->second)
        continue;
      auto pair = cast<sched::OverlapOp>(value->actionOps[rank][index]);
      std::optional<overlap::Order> order;
      if (!pair.getPlan().empty()) {
        FailureOr<overlap::Order> read = sched::readPlan(pair, *it->second);
        if (failed(read))
          return failure();
        order = std::move(*read);
      }
      std::string error;
      std::optional<overlap::OrderFigures> figures =
          pairs.add(action.stage, action.stage2, *it->second, order, error);
      if (!figures)
        return pair.emitError()
               << "cannot time the components of this pair: " << error;
      if (options.durations.empty())
        options.durations.resize(s.numRanks);
      if (options.durations[rank].empty())
        options.durations[rank].resize(s.ranks[rank].size());
      options.durations[rank][index] = figures->makespan;
    }
  }

  simulate::SimulateResult result =
      simulate::simulate(value->schedule, *value->costs, options);
  if (!result.simulation) {
    const simulate::SimulationError &error = *result.error;
    Operation *at = value->opAt(error.rank, error.index);
    return (at ? at : program.getOperation())->emitError()
           << "cannot simulate @" << program.getSymName() << ": "
           << error.message;
  }
  result.simulation->overlapPairs = pairs.rows();
  return std::move(*result.simulation);
}

namespace {
struct SchedSimulatePass
    : pipeweave::impl::SchedSimulateBase<SchedSimulatePass> {
  void runOnOperation() override {
    sched::ProgramOp program = getOperation();
    FailureOr<simulate::Simulation> simulated = simulateProgram(program);
    if (failed(simulated))
      return signalPassFailure();
    const simulate::Simulation &sim = *simulated;
    Builder builder(&getContext());
    SmallVector<double> busy, bubble;
    SmallVector<int64_t> peaks, peakBytes;
    for (const simulate::RankResult &rank : sim.ranks) {
      busy.push_back(rank.busy);
      bubble.push_back(rank.bubble);
      peaks.push_back(rank.peakActivations.count);
      peakBytes.push_back(rank.peakActivations.bytes);
    }
    NamedAttrList fields;
    fields.append("makespan", builder.getF64FloatAttr(sim.makespan));
    fields.append("busy", builder.getDenseF64ArrayAttr(busy));
    fields.append("bubble", builder.getDenseF64ArrayAttr(bubble));
    fields.append("peak_activations", builder.getDenseI64ArrayAttr(peaks));
    fields.append("peak_activation_bytes",
                  builder.getDenseI64ArrayAttr(peakBytes));
    fields.append("critical_path_crossings",
                  builder.getI64IntegerAttr(sim.criticalPath.rankCrossings));
    program->setAttr("sched.simulation", builder.getDictionaryAttr(fields));
    markAllAnalysesPreserved();
  }
};
} // namespace
