//===- Passes.h - pipeweave passes ------------------------------*- C++ -*-===//

#ifndef PIPEWEAVE_PASSES_TRANSFORMS_PASSES_H
#define PIPEWEAVE_PASSES_TRANSFORMS_PASSES_H

#include "dialect/Pipe/PipeDialect.h"
#include "dialect/Runtime/RuntimeDialect.h"
#include "dialect/Sched/SchedDialect.h"
#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "passes/Simulate/Simulator.h"

namespace pipeweave {

#define GEN_PASS_DECL
#include "passes/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Transforms/Passes.h.inc"

/// Simulates `program` under its cost model. A program without one, or
/// whose order cannot run to the end, gets a located error (at the action
/// where the simulation got stuck) and failure.
mlir::FailureOr<simulate::Simulation> simulateProgram(sched::ProgramOp program);

/// Registers the pipe, sched, pwrt and moe dialects in `registry`.
void registerPipeweaveDialects(mlir::DialectRegistry &registry);

/// The default compile pipeline from pipe specs to a checked sched program:
/// pipe-build-schedule, then the check pipeline below, then
/// sched-overlap-fb (which plans only pairs of stages with components).
/// Registered as `pw-compile`.
void buildCompilePipeline(mlir::OpPassManager &pm);

/// For sched programs (e.g. imported CSV), on every program:
/// sched-check-deadlock, sched-insert-comm, sched-check-deadlock.
void buildCheckPipeline(mlir::OpPassManager &pm);

/// Registers every pipeweave pass and pipeline with the global registry.
void registerPipeweavePassesAndPipelines();

} // namespace pipeweave

#endif // PIPEWEAVE_PASSES_TRANSFORMS_PASSES_H
