//===- FieldList.h - `name = value, ...` operation syntax -------*- C++ -*-===//
//
// pipe.cost, pipe.p2p, pipe.tensor and pipe.kernels are written by hand as
// comma-separated `name = value` lists. One table per op drives parsing,
// printing and the error for a misspelt name.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_DIALECT_PIPE_FIELDLIST_H
#define PIPEWEAVE_DIALECT_PIPE_FIELDLIST_H

#include "mlir/IR/OpImplementation.h"

namespace pipeweave::pipe {

enum class FieldKind { Float, Integer, String };

struct FieldSpec {
  llvm::StringLiteral name;
  FieldKind kind;
};

mlir::ParseResult parseFieldList(mlir::OpAsmParser &parser,
                                 mlir::OperationState &result,
                                 llvm::ArrayRef<FieldSpec> fields);
void printFieldList(mlir::OpAsmPrinter &printer, mlir::Operation *op,
                    llvm::ArrayRef<FieldSpec> fields);

/// Parses `= value (, name = value)*` after a first field name `first`
/// (read at `firstLoc`) into `into`; `owner` names the list in messages
/// (e.g. "pipe.cost").
mlir::ParseResult parseFieldsAfter(mlir::OpAsmParser &parser,
                                   llvm::StringRef owner,
                                   llvm::ArrayRef<FieldSpec> fields,
                                   llvm::StringRef first, llvm::SMLoc firstLoc,
                                   mlir::NamedAttrList &into);

/// Prints ` name = value, ...` for the fields set in `values`, in the
/// order of `fields`; returns whether it printed any.
bool printFieldValues(
    mlir::OpAsmPrinter &printer, llvm::ArrayRef<FieldSpec> fields,
    llvm::function_ref<mlir::Attribute(llvm::StringRef)> valueOf);

/// "a, b, c": the field names, for messages.
std::string fieldNames(llvm::ArrayRef<FieldSpec> fields);

/// Shortest text that reads back as the same double and lexes as an MLIR
/// float literal ("1.0", "0.05", "5.0e+10").
std::string formatFloat(double value);

} // namespace pipeweave::pipe

#endif // PIPEWEAVE_DIALECT_PIPE_FIELDLIST_H
