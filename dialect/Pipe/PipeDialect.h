//===- PipeDialect.h - the pipe dialect -------------------------*- C++ -*-===//

#ifndef PIPEWEAVE_DIALECT_PIPE_PIPEDIALECT_H
#define PIPEWEAVE_DIALECT_PIPE_PIPEDIALECT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/Schedule/CostModel.h"
#include "passes/Schedule/Schedule.h"

#include "dialect/Pipe/PipeDialect.h.inc"

#define GET_OP_CLASSES
#include "dialect/Pipe/PipeOps.h.inc"

namespace pipeweave::pipe {

/// The schedule parameters a verified pipeline asks for.
schedule::ScheduleParams getScheduleParams(PipelineOp pipeline);

/// Applies defaults and per-stage overrides. Precondition: `pipeline`
/// verifies.
schedule::CostModel resolveCostModel(PipelineOp pipeline);

/// The pipeline's expert_parallel, else the `gpus` of the expert group its
/// all-to-all components name, else 1.
int64_t effectiveExpertParallel(PipelineOp pipeline);

} // namespace pipeweave::pipe

#endif // PIPEWEAVE_DIALECT_PIPE_PIPEDIALECT_H
