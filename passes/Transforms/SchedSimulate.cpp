//===- SchedSimulate.cpp - record the simulated cost on a sched.program ---===//

#include "passes/Simulate/Simulator.h"
#include "passes/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

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
  simulate::SimulateResult result =
      simulate::simulate(value->schedule, *value->costs);
  if (!result.simulation) {
    const simulate::SimulationError &error = *result.error;
    Operation *at = value->opAt(error.rank, error.index);
    return (at ? at : program.getOperation())->emitError()
           << "cannot simulate @" << program.getSymName() << ": "
           << error.message;
  }
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
