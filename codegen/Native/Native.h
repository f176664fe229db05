//===- Native.h - code a user compiles or links -----------------*- C++ -*-===//
//
// From a module holding pwrt.program ops: C++ source (through EmitC), LLVM
// IR, an object file (through the LLVM dialect and LLVM's target machine,
// no external compiler), and a static library with its header.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_CODEGEN_NATIVE_NATIVE_H
#define PIPEWEAVE_CODEGEN_NATIVE_NATIVE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

namespace pipeweave {

/// How the code issues each rank's runtime calls.
struct CodegenOptions {
  /// When the ranks make more calls than this in all, their calls become a
  /// constant table run by pwrt_cg_run instead of one call each (0: always,
  /// -1: never); unset: the default of --runtime-to-emitc.
  std::optional<int64_t> tableThreshold;
  /// Where the lowering and translation phases report their wall time
  /// (pwc --timing); none by default.
  mlir::TimingScope *timing = nullptr;
};

// Each function below lowers the module's pwrt programs in place: the
// module holds the lowered code afterwards, not the pwrt IR.

/// Writes C++ for every pwrt.program.
mlir::LogicalResult emitCpp(mlir::ModuleOp module, llvm::raw_ostream &os,
                            const CodegenOptions &options = {});

/// Writes textual LLVM IR for every pwrt.program.
mlir::LogicalResult emitLLVMIR(mlir::ModuleOp module, llvm::raw_ostream &os,
                               const CodegenOptions &options = {});

/// Writes an object file for the host target.
mlir::LogicalResult emitObject(mlir::ModuleOp module,
                               llvm::raw_pwrite_stream &os,
                               const CodegenOptions &options = {});

/// The C header declaring what the code of `programName` exports.
std::string headerFor(llvm::StringRef programName, int64_t ranks);

/// Writes `libraryPath` (a static archive holding one object) for the
/// single pwrt.program of `module`.
mlir::LogicalResult writeStaticLibrary(mlir::ModuleOp module,
                                       llvm::StringRef libraryPath,
                                       const CodegenOptions &options = {});

} // namespace pipeweave

#endif // PIPEWEAVE_CODEGEN_NATIVE_NATIVE_H
