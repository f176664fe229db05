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
#include "llvm/Support/raw_ostream.h"

namespace pipeweave {

/// Writes C++ for every pwrt.program (the module is left as it was).
mlir::LogicalResult emitCpp(mlir::ModuleOp module, llvm::raw_ostream &os);

/// Writes textual LLVM IR for every pwrt.program.
mlir::LogicalResult emitLLVMIR(mlir::ModuleOp module, llvm::raw_ostream &os);

/// Writes an object file for the host target.
mlir::LogicalResult emitObject(mlir::ModuleOp module,
                               llvm::raw_pwrite_stream &os);

/// The C header declaring what the code of `programName` exports.
std::string headerFor(llvm::StringRef programName, int64_t ranks);

/// Writes `libraryPath` (a static archive holding one object) for the
/// single pwrt.program of `module`.
mlir::LogicalResult writeStaticLibrary(mlir::ModuleOp module,
                                       llvm::StringRef libraryPath);

} // namespace pipeweave

#endif // PIPEWEAVE_CODEGEN_NATIVE_NATIVE_H
