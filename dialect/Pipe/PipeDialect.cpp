//===- PipeDialect.cpp - the pipe dialect ---------------------------------===//

#include "dialect/Pipe/PipeDialect.h"
#include "dialect/Pipe/FieldList.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace pipeweave::pipe;
namespace schedule = pipeweave::schedule;

#include "dialect/Pipe/PipeDialect.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/Pipe/PipeOps.cpp.inc"

void PipeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/Pipe/PipeOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Field-list ops
//===----------------------------------------------------------------------===//

static constexpr FieldSpec kCostFields[] = {
    {"forward", FieldKind::Float},         {"backward_input", FieldKind::Float},
    {"backward_weight", FieldKind::Float}, {"backward", FieldKind::Float},
    {"overlapped", FieldKind::Float},
};
static constexpr FieldSpec kP2PFields[] = {
    {"latency", FieldKind::Float},
    {"bandwidth", FieldKind::Float},
};
static constexpr FieldSpec kTensorFields[] = {
    {"activation_bytes", FieldKind::Integer},
    {"gradient_bytes", FieldKind::Integer},
    {"activation_memory", FieldKind::Integer},
};
static constexpr FieldSpec kKernelFields[] = {
    {"forward", FieldKind::String},
    {"backward_input", FieldKind::String},
    {"backward_weight", FieldKind::String},
    {"backward", FieldKind::String},
    {"loss", FieldKind::String},
};

#define PW_FIELD_LIST_SYNTAX(OpClass, fields)                                  \
  ParseResult OpClass::parse(OpAsmParser &parser, OperationState &result) {    \
    return parseFieldList(parser, result, fields);                             \
  }                                                                            \
  void OpClass::print(OpAsmPrinter &printer) {                                 \
    printFieldList(printer, *this, fields);                                    \
  }
PW_FIELD_LIST_SYNTAX(CostOp, kCostFields)
PW_FIELD_LIST_SYNTAX(P2POp, kP2PFields)
PW_FIELD_LIST_SYNTAX(TensorOp, kTensorFields)
PW_FIELD_LIST_SYNTAX(KernelsOp, kKernelFields)
#undef PW_FIELD_LIST_SYNTAX

/// Common checks of every field-list op: it sets something, sits in a
/// pipeline or stage body, and its numbers are finite and non-negative.
static LogicalResult verifyFieldListOp(Operation *op,
                                       ArrayRef<FieldSpec> fields) {
  if (!isa_and_nonnull<PipelineOp, StageOp>(op->getParentOp()))
    return op->emitOpError("must appear directly in a pipe.pipeline or "
                           "pipe.stage body");
  bool any = false;
  for (const FieldSpec &field : fields) {
    Attribute value = op->getAttr(field.name);
    if (!value)
      continue;
    any = true;
    if (auto number = dyn_cast<FloatAttr>(value)) {
      double v = number.getValueAsDouble();
      if (!std::isfinite(v) || v < 0)
        return op->emitOpError()
               << "field '" << field.name
               << "' must be a finite, non-negative number (got "
               << formatFloat(v) << ")";
    }
    if (auto text = dyn_cast<StringAttr>(value); text && text.empty())
      return op->emitOpError()
             << "field '" << field.name << "' must name a kernel, not be empty";
  }
  if (!any)
    return op->emitOpError() << "sets no fields; expected at least one of: "
                             << fieldNames(fields);
  return success();
}

LogicalResult CostOp::verify() { return verifyFieldListOp(*this, kCostFields); }
LogicalResult TensorOp::verify() {
  return verifyFieldListOp(*this, kTensorFields);
}
LogicalResult KernelsOp::verify() {
  return verifyFieldListOp(*this, kKernelFields);
}
LogicalResult P2POp::verify() {
  if (failed(verifyFieldListOp(*this, kP2PFields)))
    return failure();
  if (std::optional<APFloat> bandwidth = getBandwidth();
      bandwidth && bandwidth->convertToDouble() <= 0)
    return emitOpError("field 'bandwidth' must be positive (bytes per time "
                       "unit); leave it out for latency-only transfers");
  return success();
}

//===----------------------------------------------------------------------===//
// Bodies: which ops a pipeline or stage holds, and how many of each
//===----------------------------------------------------------------------===//

/// Checks that `body` holds only `allowed...` ops and at most one of each
/// field-list op. Returns failure after emitting a located error.
template <typename... Allowed>
static LogicalResult verifyBody(Operation *owner, Block &body,
                                StringRef allowedNames) {
  llvm::DenseMap<OperationName, Operation *> firstOfKind;
  for (Operation &op : body) {
    if (!isa<Allowed...>(op))
      return op.emitOpError()
             << "is not allowed in a " << owner->getName().getStringRef()
             << " body; expected " << allowedNames;
    if (isa<StageOp>(op))
      continue;
    auto [it, inserted] = firstOfKind.try_emplace(op.getName(), &op);
    if (!inserted) {
      InFlightDiagnostic diag = op.emitOpError()
                                << "appears twice in one "
                                << owner->getName().getStringRef()
                                << " body; merge its fields into the first one";
      diag.attachNote(it->second->getLoc()) << "first one is here";
      return diag;
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// PipelineOp
//===----------------------------------------------------------------------===//

int64_t PipelineOp::getEffectiveStagesPerRank() {
  return schedule::effectiveStagesPerRank(getScheduleParams(*this));
}

schedule::ScheduleParams pipeweave::pipe::getScheduleParams(PipelineOp op) {
  schedule::ScheduleParams params;
  params.kind = schedule::parseScheduleKind(op.getSchedule())
                    .value_or(schedule::ScheduleKind::OneFOneB);
  params.ranks = static_cast<int>(op.getRanks());
  params.microbatches = static_cast<int>(op.getMicrobatches());
  params.stagesPerRank = static_cast<int>(op.getStagesPerRank().value_or(0));
  return params;
}

LogicalResult PipelineOp::verifyRegions() {
  if (!schedule::parseScheduleKind(getSchedule()))
    return emitOpError() << "unknown schedule '" << getSchedule()
                         << "'; expected one of: "
                         << schedule::scheduleKindList();
  constexpr int64_t kMaxRanks = 1 << 20;
  if (getRanks() > kMaxRanks || getMicrobatches() > kMaxRanks ||
      getStagesPerRank().value_or(1) > kMaxRanks)
    return emitOpError() << "ranks, microbatches and stages_per_rank must "
                            "each be at most "
                         << kMaxRanks;
  if (std::optional<std::string> violated =
          schedule::checkScheduleParams(getScheduleParams(*this)))
    return emitOpError() << *violated;

  if (failed(verifyBody<CostOp, P2POp, TensorOp, KernelsOp, StageOp>(
          *this, getBody().front(),
          "pipe.cost, pipe.p2p, pipe.tensor, pipe.kernels or pipe.stage")))
    return failure();

  int64_t numStages = getNumStages();
  llvm::DenseMap<int64_t, StageOp> stageByIndex;
  for (StageOp stage : getBody().getOps<StageOp>()) {
    if (stage.getIndex() >= numStages)
      return stage.emitOpError()
             << "overrides stage " << stage.getIndex() << ", but @"
             << getSymName() << " has only " << numStages << " stages ("
             << getRanks() << " ranks x " << getEffectiveStagesPerRank()
             << " per rank)";
    auto [it, inserted] = stageByIndex.try_emplace(stage.getIndex(), stage);
    if (!inserted) {
      InFlightDiagnostic diag =
          stage.emitOpError()
          << "overrides stage " << stage.getIndex()
          << " a second time; merge it with the first override";
      diag.attachNote(it->second.getLoc()) << "first override is here";
      return diag;
    }
    if (failed(verifyBody<CostOp, TensorOp, KernelsOp>(
            stage, stage.getBody().front(),
            "pipe.cost, pipe.tensor or pipe.kernels")))
      return failure();
  }

  // An overlapped pair runs both halves at once, so it cannot finish before
  // its slower half would alone.
  schedule::CostModel model = resolveCostModel(*this);
  for (auto [index, cost] : llvm::enumerate(model.stages)) {
    double slower = std::max(cost.forward, cost.backward);
    if (cost.overlapped < slower) {
      auto stage = stageByIndex.lookup(index);
      InFlightDiagnostic diag = emitOpError()
                                << "overlapped F&B cost "
                                << formatFloat(cost.overlapped) << " of stage "
                                << index << " is less than its slower half ("
                                << (cost.forward >= cost.backward ? "forward "
                                                                  : "backward ")
                                << formatFloat(slower)
                                << "); an overlapped pair takes at least "
                                   "max(forward, backward)";
      if (stage)
        diag.attachNote(stage.getLoc())
            << "stage " << index << " is overridden here";
      return diag;
    }
  }
  return success();
}
