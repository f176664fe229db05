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

namespace pipeweave {

#define GEN_PASS_DECL
#include "passes/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Transforms/Passes.h.inc"

/// Registers the pipe, sched and pwrt dialects in `registry`.
void registerPipeweaveDialects(mlir::DialectRegistry &registry);

/// The default compile pipeline from pipe specs to a checked sched program:
/// pipe-build-schedule, then the check pipeline below. Registered as
/// `pw-compile`.
void buildCompilePipeline(mlir::OpPassManager &pm);

/// For sched programs (e.g. imported CSV), on every program:
/// sched-check-deadlock, sched-insert-comm, sched-check-deadlock.
void buildCheckPipeline(mlir::OpPassManager &pm);

/// Registers every pipeweave pass and pipeline with the global registry.
void registerPipeweavePassesAndPipelines();

} // namespace pipeweave

#endif // PIPEWEAVE_PASSES_TRANSFORMS_PASSES_H
