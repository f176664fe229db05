//===- MoeDialect.h - the moe dialect ---------------------------*- C++ -*-===//

#ifndef PIPEWEAVE_DIALECT_MOE_MOEDIALECT_H
#define PIPEWEAVE_DIALECT_MOE_MOEDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/Eplb/Eplb.h"

#include "dialect/Moe/MoeDialect.h.inc"

#define GET_OP_CLASSES
#include "dialect/Moe/MoeOps.h.inc"

namespace pipeweave::moe {

/// What the moe ops call the EPLB inputs, so that library errors name the
/// attribute the user wrote.
extern const eplb::FieldNames kMoeFieldNames;

} // namespace pipeweave::moe

#endif // PIPEWEAVE_DIALECT_MOE_MOEDIALECT_H
