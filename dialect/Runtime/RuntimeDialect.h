//===- RuntimeDialect.h - the pwrt dialect ----------------------*- C++ -*-===//

#ifndef PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H
#define PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#include <array>
#include <optional>

namespace pipeweave::pwrt {

/// What a `pwrt.launch` computes, written as its keyword.
enum class LaunchKind : uint8_t {
  Forward,
  BackwardInput,
  BackwardWeight,
  Backward,
  Loss
};
constexpr int kNumLaunchKinds = 5;
llvm::StringRef stringifyLaunchKind(LaunchKind kind);
std::optional<LaunchKind> symbolizeLaunchKind(llvm::StringRef keyword);

/// What a `pwrt.send` / `pwrt.recv` carries, written as its keyword.
enum class Payload : uint8_t { Activation, Gradient };
llvm::StringRef stringifyPayload(Payload payload);
std::optional<Payload> symbolizePayload(llvm::StringRef keyword);

/// The roles of a launch's buffers, in the order they print.
enum class LaunchRole : uint8_t { Input, Output, Saved, GradOutput, GradInput };
constexpr int kNumLaunchRoles = 5;
llvm::StringRef stringifyLaunchRole(LaunchRole role);
std::optional<LaunchRole> symbolizeLaunchRole(llvm::StringRef keyword);

/// A byte range `offset+bytes` of a rank's pool.
struct Slot {
  int64_t offset = 0;
  int64_t bytes = 0;
  friend bool operator==(const Slot &, const Slot &) = default;
};

/// The slot of each buffer role a launch names (the `buffers` property of
/// `pwrt.launch`); a role the launch does not name has none.
class LaunchBuffers {
public:
  std::optional<Slot> get(LaunchRole role) const {
    const Slot &slot = slots[static_cast<int>(role)];
    if (slot.offset < 0)
      return std::nullopt;
    return slot;
  }
  void set(LaunchRole role, Slot slot) { slots[static_cast<int>(role)] = slot; }
  bool has(LaunchRole role) const { return get(role).has_value(); }
  friend bool operator==(const LaunchBuffers &,
                         const LaunchBuffers &) = default;

private:
  std::array<Slot, kNumLaunchRoles> slots = filledWithNone();
  static std::array<Slot, kNumLaunchRoles> filledWithNone() {
    std::array<Slot, kNumLaunchRoles> none;
    none.fill(Slot{-1, 0});
    return none;
  }
};

// Conversions between the properties and attributes (the generic op form,
// bytecode): a kind or payload is its keyword as a string, the buffers a
// dictionary {role = array<i64: offset, bytes>}.
mlir::Attribute convertToAttribute(mlir::MLIRContext *context, LaunchKind kind);
mlir::LogicalResult
convertFromAttribute(LaunchKind &kind, mlir::Attribute attr,
                     llvm::function_ref<mlir::InFlightDiagnostic()> emitError);
mlir::Attribute convertToAttribute(mlir::MLIRContext *context, Payload payload);
mlir::LogicalResult
convertFromAttribute(Payload &payload, mlir::Attribute attr,
                     llvm::function_ref<mlir::InFlightDiagnostic()> emitError);
mlir::Attribute convertToAttribute(mlir::MLIRContext *context,
                                   const LaunchBuffers &buffers);
mlir::LogicalResult
convertFromAttribute(LaunchBuffers &buffers, mlir::Attribute attr,
                     llvm::function_ref<mlir::InFlightDiagnostic()> emitError);
llvm::hash_code hash_value(const LaunchBuffers &buffers);

} // namespace pipeweave::pwrt

#include "dialect/Runtime/RuntimeDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialect/Runtime/RuntimeTypes.h.inc"

#define GET_OP_CLASSES
#include "dialect/Runtime/RuntimeOps.h.inc"

#endif // PIPEWEAVE_DIALECT_RUNTIME_RUNTIMEDIALECT_H
