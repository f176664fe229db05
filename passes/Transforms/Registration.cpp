//===- Registration.cpp - dialects, passes and pipelines ------------------===//

#include "passes/Transforms/Passes.h"

#include "dialect/Moe/MoeDialect.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void pipeweave::registerPipeweaveDialects(DialectRegistry &registry) {
  registry.insert<pipe::PipeDialect, sched::SchedDialect, pwrt::PwrtDialect,
                  moe::MoeDialect>();
}

void pipeweave::buildCheckPipeline(OpPassManager &pm) {
  // The first check runs on the compute order alone, so that a cyclic
  // wait is reported in terms of compute actions, not messages.
  OpPassManager &program = pm.nest<sched::ProgramOp>();
  program.addPass(createSchedCheckDeadlock());
  program.addPass(createSchedInsertComm());
  program.addPass(createSchedCheckDeadlock());
}

void pipeweave::buildCompilePipeline(OpPassManager &pm) {
  pm.addPass(createPipeBuildSchedule());
  buildCheckPipeline(pm);
  // Plans overlapped pairs whose stages have components; a no-op otherwise.
  pm.nest<sched::ProgramOp>().addPass(createSchedOverlapFB());
}

void pipeweave::registerPipeweavePassesAndPipelines() {
  registerPipeweavePasses();
  PassPipelineRegistration<>(
      "pw-compile",
      "Build, add communication to and deadlock-check every pipeline, and "
      "plan the components of overlapped pairs (what pwc runs)",
      [](OpPassManager &pm) { buildCompilePipeline(pm); });
  PassPipelineRegistration<>(
      "pw-check",
      "Deadlock-check the compute order of every sched.program, add "
      "communication, and check again "
      "(for imported or hand-written schedules)",
      [](OpPassManager &pm) { buildCheckPipeline(pm); });
}
