//===- MoePasses.h - pipeweave moe passes -----------------------*- C++ -*-===//

#ifndef PIPEWEAVE_PASSES_MOE_MOEPASSES_H
#define PIPEWEAVE_PASSES_MOE_MOEPASSES_H

#include "dialect/Moe/MoeDialect.h"
#include "mlir/Pass/Pass.h"

namespace pipeweave {

#define GEN_PASS_DECL
#include "passes/Moe/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Moe/Passes.h.inc"

/// Registers the moe dialect in `registry`.
void registerMoeDialect(mlir::DialectRegistry &registry);

/// Registers the moe passes with the global registry.
void registerMoePasses();

} // namespace pipeweave

#endif // PIPEWEAVE_PASSES_MOE_MOEPASSES_H
