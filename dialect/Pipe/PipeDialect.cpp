//===- PipeDialect.cpp - the pipe dialect ---------------------------------===//

#include "dialect/Pipe/PipeDialect.h"
#include "dialect/Moe/MoeDialect.h"
#include "dialect/Pipe/FieldList.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
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

static constexpr FieldSpec kComponentCostFields[] = {
    {"forward", FieldKind::Float},         {"backward_input", FieldKind::Float},
    {"backward_weight", FieldKind::Float}, {"backward", FieldKind::Float},
    {"row_bytes", FieldKind::Integer},     {"rows", FieldKind::Integer},
};
static constexpr FieldSpec kComponentKernelFields[] = {
    {"forward", FieldKind::String},
    {"backward_input", FieldKind::String},
    {"backward_weight", FieldKind::String},
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
// Components and layers
//===----------------------------------------------------------------------===//

// pipe.component "NAME" KIND [@GROUP] [COSTS] [kernels KERNELS] [attr-dict]
ParseResult ComponentOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  std::string name;
  if (parser.parseString(&name))
    return failure();
  result.addAttribute("component_name", builder.getStringAttr(name));
  llvm::SMLoc kindLoc = parser.getCurrentLocation();
  StringRef kind;
  if (parser.parseKeyword(&kind))
    return failure();
  if (kind != "compute" && kind != "all_to_all")
    return parser.emitError(kindLoc)
           << "component kind must be compute or all_to_all, got '" << kind
           << "'";
  result.addAttribute("kind", builder.getStringAttr(kind));
  StringAttr group;
  if (succeeded(parser.parseOptionalSymbolName(group)))
    result.addAttribute("expert_group", FlatSymbolRefAttr::get(group));

  llvm::SMLoc loc = parser.getCurrentLocation();
  StringRef word;
  bool kernels = false;
  if (succeeded(parser.parseOptionalKeyword(&word))) {
    kernels = word == "kernels";
    if (!kernels) {
      if (parseFieldsAfter(parser, "pipe.component", kComponentCostFields, word,
                           loc, result.attributes))
        return failure();
      kernels = succeeded(parser.parseOptionalKeyword("kernels"));
    }
  }
  if (kernels) {
    loc = parser.getCurrentLocation();
    NamedAttrList names;
    if (parser.parseKeyword(&word) ||
        parseFieldsAfter(parser, "the kernels of pipe.component",
                         kComponentKernelFields, word, loc, names))
      return failure();
    result.addAttribute("kernels", names.getDictionary(builder.getContext()));
  }
  return parser.parseOptionalAttrDict(result.attributes);
}

void ComponentOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printString(getComponentName());
  printer << ' ' << getKind();
  if (FlatSymbolRefAttr group = getExpertGroupAttr()) {
    printer << ' ';
    printer.printSymbolName(group.getValue());
  }
  printFieldValues(printer, kComponentCostFields,
                   [&](StringRef name) { return (*this)->getAttr(name); });
  if (DictionaryAttr kernels = getKernelsAttr()) {
    printer << " kernels";
    printFieldValues(printer, kComponentKernelFields,
                     [&](StringRef name) { return kernels.get(name); });
  }
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                {"component_name", "kind", "expert_group",
                                 "forward", "backward_input", "backward_weight",
                                 "backward", "row_bytes", "rows", "kernels"});
}

LogicalResult ComponentOp::verify() {
  StringRef name = getComponentName();
  if (name.empty())
    return emitOpError("needs a name, e.g. pipe.component \"attn\" ...");
  for (const FieldSpec &field : kComponentCostFields)
    if (auto number = (*this)->getAttrOfType<FloatAttr>(field.name)) {
      double value = number.getValueAsDouble();
      if (!std::isfinite(value) || value < 0)
        return emitOpError()
               << "field '" << field.name << "' of component '" << name
               << "' must be a finite, non-negative number (got "
               << formatFloat(value) << ")";
    }
  auto notAllowed = [&](StringRef field, StringRef why) {
    return emitOpError() << getKind() << " component '" << name << "' sets '"
                         << field << "'; " << why;
  };
  for (StringRef field : {"row_bytes", "rows"})
    if (auto number = (*this)->getAttrOfType<IntegerAttr>(field);
        number && number.getInt() <= 0)
      return emitOpError() << "field '" << field << "' of component '" << name
                           << "' must be positive (got " << number.getInt()
                           << ")";
  if (getKind() == "compute") {
    for (StringRef field : {"row_bytes", "rows"})
      if ((*this)->hasAttr(field))
        return notAllowed(field, "only an all_to_all has rows");
    if (FlatSymbolRefAttr group = getExpertGroupAttr())
      return emitOpError() << "compute component '" << name << "' names "
                           << group
                           << "; only an all_to_all runs among an expert group";
    if (getBackward())
      return notAllowed("backward", "a compute component has backward_input "
                                    "and backward_weight");
    if (!getForward() || !getBackwardInput())
      return emitOpError() << "compute component '" << name
                           << "' needs forward and backward_input costs";
    if (DictionaryAttr kernels = getKernelsAttr()) {
      if (kernels.empty())
        return emitOpError()
               << "component '" << name << "' has an empty kernels list";
      for (NamedAttribute kernel : kernels) {
        if (!llvm::is_contained(ArrayRef<StringRef>{"forward", "backward_input",
                                                    "backward_weight"},
                                kernel.getName().getValue()))
          return emitOpError()
                 << "unknown kernel '" << kernel.getName().getValue()
                 << "' of component '" << name << "'; expected one of: "
                 << fieldNames(kComponentKernelFields);
        auto text = dyn_cast<StringAttr>(kernel.getValue());
        if (!text || text.empty())
          return emitOpError() << "kernel '" << kernel.getName().getValue()
                               << "' of component '" << name
                               << "' must name a kernel, not be empty";
      }
    }
    return success();
  }
  if (getKind() != "all_to_all")
    return emitOpError() << "kind of component '" << name
                         << "' must be compute or all_to_all (got '"
                         << getKind() << "')";
  if (!getExpertGroupAttr())
    return emitOpError() << "all_to_all component '" << name
                         << "' needs the moe.expert_group whose placement "
                            "routes it (all_to_all @group)";
  if (getBackwardInput())
    return notAllowed("backward_input",
                      "an all-to-all has forward and backward costs");
  if (getBackwardWeight())
    return notAllowed("backward_weight",
                      "an all-to-all has forward and backward costs");
  if (getKernelsAttr())
    return emitOpError() << "all_to_all component '" << name
                         << "' takes no kernels; the runtime's all-to-all "
                            "moves its tokens";
  if (!getForward())
    return emitOpError() << "all_to_all component '" << name
                         << "' needs a forward cost";
  if ((*this)->hasAttr("row_bytes") != (*this)->hasAttr("rows"))
    return emitOpError() << "all_to_all component '" << name
                         << "' sets one of 'row_bytes' and 'rows'; give both "
                            "(the size of its buffers) or neither";
  return success();
}

LogicalResult LayersOp::verifyRegions() {
  if (!isa_and_nonnull<PipelineOp, StageOp>((*this)->getParentOp()))
    return emitOpError("must appear directly in a pipe.pipeline or "
                       "pipe.stage body");
  if (getBody().empty()) {
    if (isa<PipelineOp>((*this)->getParentOp()))
      return emitOpError("at the pipeline level needs a body with the "
                         "components of one layer");
    return success();
  }
  llvm::StringMap<ComponentOp> byName;
  for (Operation &op : getBody().front()) {
    auto component = dyn_cast<ComponentOp>(op);
    if (!component)
      return op.emitOpError("is not allowed in a pipe.layers body; expected "
                            "pipe.component");
    auto [it, inserted] =
        byName.try_emplace(component.getComponentName(), component);
    if (!inserted) {
      InFlightDiagnostic diag = component.emitOpError()
                                << "names component '"
                                << component.getComponentName()
                                << "' a second time in one layer";
      diag.attachNote(it->second.getLoc()) << "first one is here";
      return diag;
    }
  }
  if (byName.empty())
    return emitOpError("has an empty body; list the layer's components, or "
                       "leave the body out in a pipe.stage to repeat the "
                       "pipeline's");
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

  if (failed(verifyBody<CostOp, P2POp, TensorOp, KernelsOp, LayersOp, StageOp>(
          *this, getBody().front(),
          "pipe.cost, pipe.p2p, pipe.tensor, "
          "pipe.kernels, pipe.layers or pipe.stage")))
    return failure();
  bool pipelineHasLayers = !getBody().getOps<LayersOp>().empty();

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
    if (failed(verifyBody<CostOp, TensorOp, KernelsOp, LayersOp>(
            stage, stage.getBody().front(),
            "pipe.cost, pipe.tensor, pipe.kernels or pipe.layers")))
      return failure();
    for (LayersOp layers : stage.getBody().getOps<LayersOp>())
      if (layers.getBody().empty() && !pipelineHasLayers)
        return layers.emitOpError()
               << "repeats the pipeline's components " << layers.getCount()
               << " times in stage " << stage.getIndex() << ", but @"
               << getSymName() << " has no pipe.layers to take them from";
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

//===----------------------------------------------------------------------===//
// Expert groups named by all-to-all components
//===----------------------------------------------------------------------===//

LogicalResult PipelineOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  // The group of every all-to-all component, with the first component that
  // names a group (for the message when groups disagree without
  // expert_parallel).
  ComponentOp firstNamer;
  moe::ExpertGroupOp firstGroup;
  WalkResult walked = walk([&](ComponentOp component) {
    FlatSymbolRefAttr name = component.getExpertGroupAttr();
    if (!name)
      return WalkResult::advance();
    auto group =
        symbolTable.lookupNearestSymbolFrom<moe::ExpertGroupOp>(*this, name);
    if (!group) {
      component.emitOpError()
          << "names " << name << ", which is not a moe.expert_group";
      return WalkResult::interrupt();
    }
    if (std::optional<uint64_t> degree = getExpertParallel();
        degree && static_cast<int64_t>(*degree) != group.getGpus()) {
      InFlightDiagnostic diag =
          component.emitOpError()
          << "runs its all-to-all among the " << group.getGpus() << " GPUs of "
          << name << ", but @" << getSymName()
          << " has expert_parallel = " << *degree
          << "; the all-to-all of a pipeline rank runs among its "
             "expert_parallel processes, so gpus must equal expert_parallel";
      diag.attachNote(group.getLoc()) << name << " is here";
      return WalkResult::interrupt();
    }
    if (firstGroup && group.getGpus() != firstGroup.getGpus()) {
      InFlightDiagnostic diag =
          component.emitOpError()
          << "names " << name << " over " << group.getGpus()
          << " GPUs, but component '" << firstNamer.getComponentName()
          << "' names @" << firstGroup.getSymName() << " over "
          << firstGroup.getGpus()
          << " GPUs; every group must span the expert_parallel processes of "
             "a pipeline rank";
      diag.attachNote(firstNamer.getLoc()) << "first group named here";
      return WalkResult::interrupt();
    }
    if (!firstGroup) {
      firstNamer = component;
      firstGroup = group;
    }
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();

  // Within a direction, stage s's layers follow those of the stages before
  // it, so together they cannot exceed the layers the group places.
  schedule::CostModel model = resolveCostModel(*this);
  int directions = schedule::directionsOf(getScheduleParams(*this).kind);
  int stagesPerDirection = static_cast<int>(model.stages.size()) / directions;
  for (int direction = 0; direction < directions; ++direction) {
    llvm::StringMap<int64_t> layersOf;
    for (int stage = direction * stagesPerDirection;
         stage < (direction + 1) * stagesPerDirection; ++stage) {
      const schedule::StageCost &cost = model.stages[stage];
      llvm::StringSet<> named;
      for (const schedule::Component &component : cost.components)
        if (!component.expertGroup.empty())
          named.insert(component.expertGroup);
      for (const auto &entry : named)
        layersOf[entry.getKey()] += cost.layers;
    }
    for (const auto &[name, layers] : layersOf) {
      auto group = symbolTable.lookupNearestSymbolFrom<moe::ExpertGroupOp>(
          *this, StringAttr::get(getContext(), name));
      if (layers > group.getLayers()) {
        InFlightDiagnostic diag =
            emitOpError() << "stages " << direction * stagesPerDirection << ".."
                          << (direction + 1) * stagesPerDirection - 1
                          << " hold " << layers
                          << " layers whose all-to-alls use @" << name
                          << ", but it places experts for only "
                          << group.getLayers() << " layers";
        diag.attachNote(group.getLoc()) << "@" << name << " is here";
        return diag;
      }
    }
  }
  return success();
}
