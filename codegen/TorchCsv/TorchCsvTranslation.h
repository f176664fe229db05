//===- TorchCsvTranslation.h - sched <-> PyTorch pipelining CSV -*- C++ -*-===//

#ifndef PIPEWEAVE_CODEGEN_TORCHCSV_TORCHCSVTRANSLATION_H
#define PIPEWEAVE_CODEGEN_TORCHCSV_TORCHCSVTRANSLATION_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

namespace pipeweave {

/// Writes the single sched.program in `module` as compute-only PyTorch
/// pipelining CSV. Fails with a located error when there is not exactly one.
mlir::LogicalResult exportTorchCsv(mlir::ModuleOp module,
                                   llvm::raw_ostream &output);

struct TorchCsvImportOptions {
  std::string programName = "imported";
  int directions = 1;
};

/// Parses the main buffer of `sourceMgr` as PyTorch pipelining CSV into a
/// module holding one verified sched.program whose actions carry the
/// file:line:column of their cells. Errors are emitted at the offending cell.
mlir::OwningOpRef<mlir::ModuleOp>
importTorchCsv(llvm::SourceMgr &sourceMgr, mlir::MLIRContext *context,
               const TorchCsvImportOptions &options);

/// Registers `--sched-to-torch-csv` and `--torch-csv-to-sched` (with its
/// `--csv-program-name` and `--csv-directions` options) for pw-translate.
void registerTorchCsvTranslations();

} // namespace pipeweave

#endif // PIPEWEAVE_CODEGEN_TORCHCSV_TORCHCSVTRANSLATION_H
