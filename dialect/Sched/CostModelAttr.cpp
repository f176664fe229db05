//===- CostModelAttr.cpp - sched.program's cost_model dictionary ----------===//
//
// The simulator needs the spec's per-stage costs after the spec is lowered,
// so the program carries them as one dictionary of per-stage arrays.
//
//===----------------------------------------------------------------------===//

#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace mlir;
using namespace pipeweave::sched;
namespace schedule = pipeweave::schedule;

namespace {
/// One per-stage number of StageCost, by its attribute name.
struct StageField {
  llvm::StringLiteral name;
  double schedule::StageCost::*member;
};
constexpr StageField kTimeFields[] = {
    {"forward", &schedule::StageCost::forward},
    {"backward_input", &schedule::StageCost::backwardInput},
    {"backward_weight", &schedule::StageCost::backwardWeight},
    {"backward", &schedule::StageCost::backward},
    {"overlapped", &schedule::StageCost::overlapped},
};
struct KernelField {
  llvm::StringLiteral name;
  std::string schedule::StageKernels::*member;
};
constexpr KernelField kKernelFields[] = {
    {"forward", &schedule::StageKernels::forward},
    {"backward_input", &schedule::StageKernels::backwardInput},
    {"backward_weight", &schedule::StageKernels::backwardWeight},
    {"backward", &schedule::StageKernels::backward},
    {"loss", &schedule::StageKernels::loss},
};
} // namespace

static DictionaryAttr encodeComponent(Builder &builder,
                                      const schedule::Component &component) {
  NamedAttrList fields;
  fields.append("name", builder.getStringAttr(component.name));
  fields.append("kind", builder.getStringAttr(
                            component.isCompute() ? "compute" : "all_to_all"));
  fields.append("forward", builder.getF64FloatAttr(component.forward));
  if (component.isCompute()) {
    fields.append("backward_input",
                  builder.getF64FloatAttr(component.backwardInput));
    fields.append("backward_weight",
                  builder.getF64FloatAttr(component.backwardWeight));
    NamedAttrList kernels;
    for (auto [name, kernel] :
         {std::pair{"forward", &component.kernels.forward},
          std::pair{"backward_input", &component.kernels.backwardInput},
          std::pair{"backward_weight", &component.kernels.backwardWeight}})
      if (!kernel->empty())
        kernels.append(name, builder.getStringAttr(*kernel));
    if (!kernels.empty())
      fields.append("kernels", builder.getDictionaryAttr(kernels));
  } else {
    fields.append("backward", builder.getF64FloatAttr(component.backward));
    fields.append(
        "expert_group",
        FlatSymbolRefAttr::get(builder.getContext(), component.expertGroup));
    if (component.rows > 0) {
      fields.append("row_bytes", builder.getI64IntegerAttr(component.rowBytes));
      fields.append("rows", builder.getI64IntegerAttr(component.rows));
    }
  }
  return builder.getDictionaryAttr(fields);
}

/// Adds `layers`, `component_lists` (each distinct list once) and
/// `stage_components` (per stage, its list's index or -1) when some stage
/// has components.
static void encodeComponents(Builder &builder, const schedule::CostModel &m,
                             NamedAttrList &fields) {
  std::vector<const std::vector<schedule::Component> *> lists;
  llvm::SmallVector<int64_t> layers, listOfStage;
  for (const schedule::StageCost &stage : m.stages) {
    layers.push_back(stage.hasComponents() ? stage.layers : 0);
    if (!stage.hasComponents()) {
      listOfStage.push_back(-1);
      continue;
    }
    auto it = llvm::find_if(
        lists, [&](const auto *list) { return *list == stage.components; });
    listOfStage.push_back(it - lists.begin());
    if (it == lists.end())
      lists.push_back(&stage.components);
  }
  if (lists.empty())
    return;
  llvm::SmallVector<Attribute> encoded;
  for (const auto *list : lists) {
    llvm::SmallVector<Attribute> components;
    for (const schedule::Component &component : *list)
      components.push_back(encodeComponent(builder, component));
    encoded.push_back(builder.getArrayAttr(components));
  }
  fields.append("layers", builder.getDenseI64ArrayAttr(layers));
  fields.append("component_lists", builder.getArrayAttr(encoded));
  fields.append("stage_components", builder.getDenseI64ArrayAttr(listOfStage));
}

DictionaryAttr pipeweave::sched::encodeCostModel(MLIRContext *context,
                                                 const schedule::CostModel &m) {
  Builder builder(context);
  NamedAttrList fields;
  for (const StageField &field : kTimeFields) {
    llvm::SmallVector<double> values;
    for (const schedule::StageCost &stage : m.stages)
      values.push_back(stage.*field.member);
    fields.append(field.name, builder.getDenseF64ArrayAttr(values));
  }
  llvm::SmallVector<int64_t> memory;
  for (const schedule::StageCost &stage : m.stages)
    memory.push_back(stage.activationMemory);
  fields.append("activation_memory", builder.getDenseI64ArrayAttr(memory));
  fields.append("p2p_latency", builder.getF64FloatAttr(m.p2pLatency));
  if (m.p2pBandwidth)
    fields.append("p2p_bandwidth", builder.getF64FloatAttr(*m.p2pBandwidth));

  NamedAttrList kernels;
  for (const KernelField &field : kKernelFields) {
    llvm::SmallVector<Attribute> names;
    bool any = false;
    for (const schedule::StageCost &stage : m.stages) {
      const std::string &name = stage.kernels.*field.member;
      any |= !name.empty();
      names.push_back(builder.getStringAttr(name));
    }
    if (any)
      kernels.append(field.name, builder.getArrayAttr(names));
  }
  if (!kernels.empty())
    fields.append("kernels", builder.getDictionaryAttr(kernels));
  encodeComponents(builder, m, fields);
  if (m.expertParallel != 1)
    fields.append("expert_parallel",
                  builder.getI64IntegerAttr(m.expertParallel));
  return builder.getDictionaryAttr(fields);
}

/// Reads one component dictionary; returns a problem or the component.
static FailureOr<schedule::Component>
decodeComponent(Attribute attr, llvm::function_ref<void(const Twine &)> fail) {
  auto dict = dyn_cast<DictionaryAttr>(attr);
  if (!dict) {
    fail("must be a dictionary");
    return failure();
  }
  schedule::Component component;
  auto name = dict.getAs<StringAttr>("name");
  auto kind = dict.getAs<StringAttr>("kind");
  if (!name || name.empty()) {
    fail("needs a non-empty string 'name'");
    return failure();
  }
  component.name = name.getValue().str();
  if (!kind ||
      (kind.getValue() != "compute" && kind.getValue() != "all_to_all")) {
    fail("'" + name.getValue() + "' needs kind \"compute\" or \"all_to_all\"");
    return failure();
  }
  bool compute = kind.getValue() == "compute";
  component.kind = compute ? schedule::ComponentKind::Compute
                           : schedule::ComponentKind::AllToAll;
  llvm::SmallVector<StringRef> allowed = {"name", "kind", "forward"};
  auto number = [&](StringRef field, double &into) -> LogicalResult {
    auto value = dict.getAs<FloatAttr>(field);
    if (!value || !std::isfinite(value.getValueAsDouble()) ||
        value.getValueAsDouble() < 0) {
      fail("'" + name.getValue() + "' needs a finite, non-negative f64 '" +
           field + "'");
      return failure();
    }
    into = value.getValueAsDouble();
    return success();
  };
  if (failed(number("forward", component.forward)))
    return failure();
  if (compute) {
    allowed.append({"backward_input", "backward_weight", "kernels"});
    if (failed(number("backward_input", component.backwardInput)) ||
        failed(number("backward_weight", component.backwardWeight)))
      return failure();
    if (Attribute kernelsAttr = dict.get("kernels")) {
      auto kernels = dyn_cast<DictionaryAttr>(kernelsAttr);
      if (!kernels) {
        fail("'" + name.getValue() + "' kernels must be a dictionary");
        return failure();
      }
      for (NamedAttribute kernel : kernels) {
        auto text = dyn_cast<StringAttr>(kernel.getValue());
        std::string *into =
            llvm::StringSwitch<std::string *>(kernel.getName().getValue())
                .Case("forward", &component.kernels.forward)
                .Case("backward_input", &component.kernels.backwardInput)
                .Case("backward_weight", &component.kernels.backwardWeight)
                .Default(nullptr);
        if (!into || !text) {
          fail("'" + name.getValue() + "' kernel '" +
               kernel.getName().getValue() +
               "' must be forward, backward_input or backward_weight with a "
               "string");
          return failure();
        }
        *into = text.getValue().str();
      }
    }
  } else {
    allowed.append({"backward", "expert_group"});
    if (failed(number("backward", component.backward)))
      return failure();
    auto group = dict.getAs<FlatSymbolRefAttr>("expert_group");
    if (!group) {
      fail("'" + name.getValue() + "' needs an 'expert_group' symbol");
      return failure();
    }
    component.expertGroup = group.getValue().str();
    allowed.append({"row_bytes", "rows"});
    for (auto [field, into] : {std::pair{"row_bytes", &component.rowBytes},
                               std::pair{"rows", &component.rows}})
      if (Attribute value = dict.get(field)) {
        auto integer = dyn_cast<IntegerAttr>(value);
        if (!integer || integer.getInt() <= 0) {
          fail("'" + name.getValue() + "' needs a positive integer '" + field +
               "'");
          return failure();
        }
        *into = integer.getInt();
      }
  }
  for (NamedAttribute field : dict)
    if (!llvm::is_contained(allowed, field.getName().getValue())) {
      fail("'" + name.getValue() + "' has unknown field '" +
           field.getName().getValue() + "'");
      return failure();
    }
  return component;
}

/// Reads `layers`, `component_lists` and `stage_components` (all or none).
template <typename Fail>
static LogicalResult decodeComponents(DictionaryAttr attr, int64_t numStages,
                                      schedule::CostModel &model, Fail fail) {
  Attribute layersAttr = attr.get("layers"),
            listsAttr = attr.get("component_lists"),
            ofStageAttr = attr.get("stage_components");
  if (!layersAttr && !listsAttr && !ofStageAttr)
    return success();
  auto layers = dyn_cast_or_null<DenseI64ArrayAttr>(layersAttr);
  auto lists = dyn_cast_or_null<ArrayAttr>(listsAttr);
  auto ofStage = dyn_cast_or_null<DenseI64ArrayAttr>(ofStageAttr);
  if (!layers || layers.size() != numStages)
    return fail("layers", "must be an array<i64> with one entry per stage "
                          "(it comes with component_lists and "
                          "stage_components)");
  if (!ofStage || ofStage.size() != numStages)
    return fail("stage_components",
                "must be an array<i64> with one entry per stage (it comes "
                "with layers and component_lists)");
  if (!lists)
    return fail("component_lists",
                "must be an array of component lists (it comes with layers "
                "and stage_components)");
  std::vector<std::vector<schedule::Component>> decoded;
  for (auto [index, listAttr] : llvm::enumerate(lists)) {
    auto list = dyn_cast<ArrayAttr>(listAttr);
    if (!list || list.empty())
      return fail("component_lists",
                  "entry " + Twine(index) + " must be a non-empty array");
    decoded.emplace_back();
    for (auto [position, componentAttr] : llvm::enumerate(list)) {
      bool failedHere = false;
      FailureOr<schedule::Component> component =
          decodeComponent(componentAttr, [&](const Twine &problem) {
            failedHere = true;
            (void)fail("component_lists", "entry " + Twine(index) +
                                              " component " + Twine(position) +
                                              ": " + problem);
          });
      if (failed(component) || failedHere)
        return failure();
      decoded.back().push_back(std::move(*component));
    }
  }
  for (int64_t stage = 0; stage < numStages; ++stage) {
    int64_t count = layers[stage], list = ofStage[stage];
    if (count < 0 || (count == 0) != (list < 0))
      return fail("layers", "of stage " + Twine(stage) +
                                " must be >= 1 exactly when it has components "
                                "(stage_components >= 0)");
    if (list >= static_cast<int64_t>(decoded.size()))
      return fail("stage_components",
                  "of stage " + Twine(stage) + " names list " + Twine(list) +
                      "; there are " + Twine(decoded.size()));
    if (list < 0)
      continue;
    model.stages[stage].layers = static_cast<int>(count);
    model.stages[stage].components = decoded[list];
  }
  return success();
}

FailureOr<schedule::CostModel> pipeweave::sched::decodeCostModel(
    DictionaryAttr attr, int64_t numStages,
    llvm::function_ref<InFlightDiagnostic()> emitError) {
  schedule::CostModel model;
  model.stages.resize(numStages);
  auto fail = [&](StringRef field, const Twine &problem) {
    emitError() << "cost_model field '" << field << "' " << problem;
    return failure();
  };
  static constexpr llvm::StringLiteral kKnown[] = {
      "forward",        "backward_input",  "backward_weight",
      "backward",       "overlapped",      "activation_memory",
      "p2p_latency",    "p2p_bandwidth",   "kernels",
      "layers",         "component_lists", "stage_components",
      "expert_parallel"};
  for (NamedAttribute named : attr)
    if (!llvm::is_contained(kKnown, named.getName().getValue()))
      return fail(named.getName().getValue(),
                  "is unknown; expected forward, backward_input, "
                  "backward_weight, backward, overlapped, activation_memory, "
                  "p2p_latency, p2p_bandwidth, kernels, layers, "
                  "component_lists, stage_components or expert_parallel");

  for (const StageField &field : kTimeFields) {
    auto values = attr.getAs<DenseF64ArrayAttr>(field.name);
    if (!values)
      return fail(field.name, "must be an array<f64> with one entry per stage");
    if (values.size() != numStages)
      return fail(field.name, "has " + Twine(values.size()) +
                                  " entries; expected one per stage (" +
                                  Twine(numStages) + ")");
    for (auto [stage, value] : llvm::enumerate(values.asArrayRef())) {
      if (!std::isfinite(value) || value < 0)
        return fail(field.name, "must be finite and non-negative (stage " +
                                    Twine(stage) + ")");
      model.stages[stage].*field.member = value;
    }
  }
  auto memory = attr.getAs<DenseI64ArrayAttr>("activation_memory");
  if (!memory || memory.size() != numStages)
    return fail("activation_memory",
                "must be an array<i64> with one entry per stage");
  for (auto [stage, bytes] : llvm::enumerate(memory.asArrayRef())) {
    if (bytes < 0)
      return fail("activation_memory", "must be non-negative");
    model.stages[stage].activationMemory = bytes;
  }
  auto latency = attr.getAs<FloatAttr>("p2p_latency");
  if (!latency || !std::isfinite(latency.getValueAsDouble()) ||
      latency.getValueAsDouble() < 0)
    return fail("p2p_latency", "must be a finite, non-negative f64");
  model.p2pLatency = latency.getValueAsDouble();
  if (Attribute bandwidth = attr.get("p2p_bandwidth")) {
    auto value = dyn_cast<FloatAttr>(bandwidth);
    if (!value || !(value.getValueAsDouble() > 0))
      return fail("p2p_bandwidth", "must be a positive f64");
    model.p2pBandwidth = value.getValueAsDouble();
  }
  if (Attribute kernelsAttr = attr.get("kernels")) {
    auto kernels = dyn_cast<DictionaryAttr>(kernelsAttr);
    if (!kernels)
      return fail("kernels", "must be a dictionary");
    for (const KernelField &field : kKernelFields) {
      Attribute namesAttr = kernels.get(field.name);
      if (!namesAttr)
        continue;
      auto names = dyn_cast<ArrayAttr>(namesAttr);
      if (!names || static_cast<int64_t>(names.size()) != numStages ||
          !llvm::all_of(names, [](Attribute a) { return isa<StringAttr>(a); }))
        return fail("kernels",
                    "entry '" + field.name +
                        "' must be an array of one string per stage");
      for (auto [stage, name] : llvm::enumerate(names))
        model.stages[stage].kernels.*field.member =
            cast<StringAttr>(name).getValue().str();
    }
  }
  if (Attribute degree = attr.get("expert_parallel")) {
    auto value = dyn_cast<IntegerAttr>(degree);
    if (!value || value.getInt() < 1 || value.getInt() > (1 << 20))
      return fail("expert_parallel", "must be an integer >= 1");
    model.expertParallel = static_cast<int>(value.getInt());
  }
  if (failed(decodeComponents(attr, numStages, model, fail)))
    return failure();
  return model;
}
