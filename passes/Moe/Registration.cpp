//===- Registration.cpp - the moe dialect and passes ----------------------===//

#include "passes/Moe/MoePasses.h"

void pipeweave::registerMoeDialect(mlir::DialectRegistry &registry) {
  registry.insert<moe::MoeDialect>();
}

void pipeweave::registerMoePasses() { registerPipeweaveMoePasses(); }
