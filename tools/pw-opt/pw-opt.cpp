//===- pw-opt.cpp - pipeweave's mlir-opt ----------------------------------===//
//
// mlir-opt with the pipe and sched dialects, pipeweave's passes and
// pipelines, and MLIR's generic transforms (canonicalize, cse, symbol-dce...).
//
//===----------------------------------------------------------------------===//

#include "passes/Moe/MoePasses.h"
#include "passes/Transforms/Passes.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  pipeweave::registerPipeweaveDialects(registry);
  pipeweave::registerPipeweavePassesAndPipelines();
  pipeweave::registerMoeDialect(registry);
  pipeweave::registerMoePasses();
  mlir::registerTransformsPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "pw-opt: run pipeweave passes on pipe/sched IR\n\n"
      "  pw-opt spec.mlir --pw-compile        build, add comm, check "
      "deadlock\n"
      "  pw-opt sched.mlir --pw-check          add comm, check deadlock\n",
      registry));
}
