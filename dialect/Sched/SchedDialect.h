//===- SchedDialect.h - the sched dialect -----------------------*- C++ -*-===//

#ifndef PIPEWEAVE_DIALECT_SCHED_SCHEDDIALECT_H
#define PIPEWEAVE_DIALECT_SCHED_SCHEDDIALECT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/Overlap/Overlap.h"
#include "passes/Schedule/CostModel.h"
#include "passes/Schedule/Schedule.h"

#include "dialect/Sched/SchedDialect.h.inc"
#include "dialect/Sched/SchedEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/Sched/SchedAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/Sched/SchedOps.h.inc"

namespace pipeweave::sched {

/// A program as a library value, plus the op behind every action so that
/// problems found by the library can be reported at the right place.
struct ProgramValue {
  schedule::Schedule schedule;
  /// actionOps[r][i] is the op of schedule.ranks[r][i].
  std::vector<std::vector<mlir::Operation *>> actionOps;
  /// rankOps[r] is the sched.rank of rank r (null when missing).
  std::vector<RankOp> rankOps;
  /// The program's cost model, when it carries one.
  std::optional<schedule::CostModel> costs;

  /// Where to report something the library found at action `index` of
  /// `rank`: that action's op, else the rank's op (e.g. for "at the end"),
  /// else nullptr.
  mlir::Operation *opAt(int rank, int index) const;
};

/// The `cost_model` attribute of a program for `model` (see ProgramOp).
mlir::DictionaryAttr encodeCostModel(mlir::MLIRContext *context,
                                     const schedule::CostModel &model);

/// Reads a `cost_model` attribute for `numStages` stages; on a malformed
/// one, emits an error through `emitError` naming the field.
mlir::FailureOr<schedule::CostModel>
decodeCostModel(mlir::DictionaryAttr attr, int64_t numStages,
                llvm::function_ref<mlir::InFlightDiagnostic()> emitError);

/// Converts a program to a library value. Ranks outside [0, ranks) or given
/// twice are reported as errors and yield failure.
mlir::FailureOr<ProgramValue> toProgramValue(ProgramOp program);

/// Converts a schedule::Action to its op, inserted at `builder`'s point.
mlir::Operation *buildAction(mlir::OpBuilder &builder, mlir::Location loc,
                             const schedule::Action &action);

/// Creates a sched.program for `schedule` at `builder`'s insertion point,
/// carrying `costs` as its cost_model when given.
ProgramOp buildProgram(mlir::OpBuilder &builder, mlir::Location loc,
                       const schedule::Schedule &schedule,
                       const schedule::CostModel *costs = nullptr);

/// Replaces the actions of every rank of `program` with those of `schedule`
/// (same ranks); program-level attributes stay.
void replaceActions(ProgramOp program, const schedule::Schedule &schedule);

/// The component chains of an overlapped pair under `costs`; nullopt when
/// neither stage has components (the pair then costs `overlapped`), or
/// `action` is not an in-range overlapped pair.
std::optional<overlap::PairProblem>
pairProblemOf(const schedule::Action &action, const schedule::CostModel &costs);

/// Reads the plan in the body of `op` as an order of `problem`'s items:
/// every item exactly once, on its stream, in an order that can run.
/// Otherwise emits a located error naming the problem and fails.
mlir::FailureOr<overlap::Order> readPlan(OverlapOp op,
                                         const overlap::PairProblem &problem);

/// Replaces the body of `op` with `order` (listed by start time).
void writePlan(OverlapOp op, const overlap::PairProblem &problem,
               const overlap::Order &order);

} // namespace pipeweave::sched

#endif // PIPEWEAVE_DIALECT_SCHED_SCHEDDIALECT_H
