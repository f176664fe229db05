//===- CostModelAttr.cpp - sched.program's cost_model dictionary ----------===//
//
// The simulator needs the spec's per-stage costs after the spec is lowered,
// so the program carries them as one dictionary of per-stage arrays.
//
//===----------------------------------------------------------------------===//

#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"

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
  return builder.getDictionaryAttr(fields);
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
      "forward",     "backward_input", "backward_weight",
      "backward",    "overlapped",     "activation_memory",
      "p2p_latency", "p2p_bandwidth",  "kernels"};
  for (NamedAttribute named : attr)
    if (!llvm::is_contained(kKnown, named.getName().getValue()))
      return fail(named.getName().getValue(),
                  "is unknown; expected forward, backward_input, "
                  "backward_weight, backward, overlapped, activation_memory, "
                  "p2p_latency, p2p_bandwidth or kernels");

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
  return model;
}
