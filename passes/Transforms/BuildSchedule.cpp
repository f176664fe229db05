//===- BuildSchedule.cpp - pipe.pipeline -> sched.program -----------------===//

#include "passes/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace pipeweave {
#define GEN_PASS_DEF_PIPEBUILDSCHEDULE
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct PipeBuildSchedulePass
    : pipeweave::impl::PipeBuildScheduleBase<PipeBuildSchedulePass> {
  void runOnOperation() override {
    for (pipe::PipelineOp pipeline :
         llvm::make_early_inc_range(getOperation().getOps<pipe::PipelineOp>()))
      if (failed(lower(pipeline)))
        signalPassFailure();
  }

  static LogicalResult lower(pipe::PipelineOp pipeline) {
    schedule::ScheduleParams params = pipe::getScheduleParams(pipeline);
    if (std::optional<std::string> problem =
            schedule::checkScheduleParams(params))
      return pipeline.emitError() << "cannot build a schedule for @"
                                  << pipeline.getSymName() << ": " << *problem;

    schedule::Schedule built = schedule::generateSchedule(params);
    built.name = pipeline.getSymName().str();
    schedule::CostModel model = pipe::resolveCostModel(pipeline);
    bool anyBytes = false;
    for (const schedule::StageCost &stage : model.stages)
      anyBytes |= stage.activationBytes != 0 || stage.gradientBytes != 0;
    if (anyBytes) {
      for (const schedule::StageCost &stage : model.stages) {
        built.activationBytes.push_back(stage.activationBytes);
        built.gradientBytes.push_back(stage.gradientBytes);
      }
    }

    OpBuilder builder(pipeline);
    sched::buildProgram(builder, pipeline.getLoc(), built, &model);
    pipeline.erase();
    return success();
  }
};
} // namespace
