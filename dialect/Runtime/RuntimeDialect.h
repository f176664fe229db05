//===- RuntimeDialect.h - the pwrt dialect ----------------------*- C++ -*-===//

#ifndef PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H
#define PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#include "dialect/Runtime/RuntimeDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialect/Runtime/RuntimeTypes.h.inc"

#define GET_OP_CLASSES
#include "dialect/Runtime/RuntimeOps.h.inc"

namespace pipeweave::pwrt {

/// The buffer roles a launch may name, in the order they print.
llvm::ArrayRef<llvm::StringLiteral> launchRoles();

/// The launch kinds: forward, backward_input, backward_weight, backward,
/// loss.
llvm::ArrayRef<llvm::StringLiteral> launchKinds();

} // namespace pipeweave::pwrt

#endif // PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H
