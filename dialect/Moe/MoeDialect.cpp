//===- MoeDialect.cpp - the moe dialect -----------------------------------===//

#include "dialect/Moe/MoeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace pipeweave;
using namespace pipeweave::moe;

#include "dialect/Moe/MoeDialect.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/Moe/MoeOps.cpp.inc"

void MoeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/Moe/MoeOps.cpp.inc"
      >();
}

const eplb::FieldNames pipeweave::moe::kMoeFieldNames = {
    /*loads=*/"loads",    /*layers=*/"layers", /*experts=*/"experts",
    /*replicas=*/"slots", /*groups=*/"groups", /*nodes=*/"nodes",
    /*gpus=*/"gpus"};

//===----------------------------------------------------------------------===//
// ExpertGroupOp
//===----------------------------------------------------------------------===//

eplb::EplbProblem ExpertGroupOp::getProblem() {
  eplb::EplbProblem problem;
  // Signed: I64Attr's getters read the value as unsigned.
  problem.numLayers = getLayersAttr().getInt();
  problem.numExperts = getExpertsAttr().getInt();
  problem.numReplicas = getSlotsAttr().getInt();
  problem.numGroups = getGroupsAttr().getInt();
  problem.numNodes = getNodesAttr().getInt();
  problem.numGpus = getGpusAttr().getInt();
  if (auto loads =
          llvm::dyn_cast_or_null<DenseFPElementsAttr>(getLoadsAttr())) {
    problem.loads.reserve(loads.getNumElements());
    for (const APFloat &value : loads.getValues<APFloat>())
      problem.loads.push_back(value.convertToDouble());
  }
  return problem;
}

PlacementOp ExpertGroupOp::getPlacement() {
  if (getBody().empty())
    return nullptr;
  auto placements = getBody().front().getOps<PlacementOp>();
  return placements.empty() ? nullptr : *placements.begin();
}

LogicalResult ExpertGroupOp::verify() {
  if (getLoadsAttr() && getLoadsFileAttr())
    return emitOpError("has both loads and loads_file; give one");
  if (!getLoadsAttr() && !getLoadsFileAttr())
    return emitOpError("needs the experts' loads: loads = dense<...> : "
                       "tensor<layers x experts x f32>, or loads_file = "
                       "\"loads.json\"");
  if (getLoadsFileAttr() && getLoadsFileAttr().getValue().empty())
    return emitOpError("loads_file must name a file");

  eplb::EplbProblem problem = getProblem();
  if (std::optional<eplb::InputError> error =
          eplb::checkShape(problem, eplb::PolicyOptions{}, kMoeFieldNames))
    return emitOpError() << error->message;
  if (ElementsAttr loads = getLoadsAttr()) {
    auto type = llvm::dyn_cast<RankedTensorType>(loads.getShapedType());
    if (!llvm::isa<DenseFPElementsAttr>(loads) || !type ||
        type.getShape() !=
            ArrayRef<int64_t>{problem.numLayers, problem.numExperts})
      return emitOpError() << "loads must be a dense tensor of floats with "
                           << problem.numLayers << " layers x "
                           << problem.numExperts << " experts; got "
                           << loads.getShapedType();
    if (std::optional<eplb::InputError> error =
            eplb::checkProblem(problem, eplb::PolicyOptions{}, kMoeFieldNames))
      return emitOpError() << error->message;
  }
  return success();
}

LogicalResult ExpertGroupOp::verifyRegions() {
  if (getBody().empty())
    return success();
  Operation *first = nullptr;
  for (Operation &op : getBody().front()) {
    if (!isa<PlacementOp>(op))
      return op.emitOpError()
             << "is not allowed in a moe.expert_group body; expected one "
                "moe.placement";
    if (first) {
      InFlightDiagnostic diag = op.emitOpError()
                                << "is the second placement of @"
                                << getSymName() << "; keep one";
      diag.attachNote(first->getLoc()) << "first placement is here";
      return diag;
    }
    first = &op;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// PlacementOp
//===----------------------------------------------------------------------===//

static std::vector<int64_t> toVector(DenseIntElementsAttr values) {
  std::vector<int64_t> out;
  out.reserve(values.getNumElements());
  for (int64_t value : values.getValues<int64_t>())
    out.push_back(value);
  return out;
}

eplb::Placement PlacementOp::getValue() {
  auto group = (*this)->getParentOfType<ExpertGroupOp>();
  eplb::EplbProblem problem = group.getProblem();
  eplb::Placement placement;
  placement.numLayers = problem.numLayers;
  placement.numExperts = problem.numExperts;
  placement.numReplicas = problem.numReplicas;
  placement.hierarchical = getStrategy() == "hierarchical";
  placement.phy2log = toVector(getPhy2log());
  placement.logcnt = toVector(getLogcnt());
  placement.log2phy = toVector(getLog2phy());
  placement.maxReplicas = getLog2phy().getType().getShape().back();
  // Replica ranks are the positions in log2phy.
  placement.phyRank.assign(placement.phy2log.size(), 0);
  for (size_t row = 0; row < placement.log2phy.size();
       row += placement.maxReplicas) {
    int64_t layer = row / (placement.numExperts * placement.maxReplicas);
    for (int64_t rank = 0; rank < placement.maxReplicas; ++rank)
      if (int64_t slot = placement.log2phy[row + rank];
          slot >= 0 && slot < placement.numReplicas)
        placement.phyRank[layer * placement.numReplicas + slot] = rank;
  }
  return placement;
}

LogicalResult PlacementOp::verify() {
  auto group = (*this)->getParentOfType<ExpertGroupOp>();
  std::string error;
  if (!eplb::parsePolicy(getPolicy(), error))
    return emitOpError() << error;
  if (getStrategy() != "hierarchical" && getStrategy() != "global")
    return emitOpError() << "strategy must be \"hierarchical\" or \"global\" "
                            "(got \""
                         << getStrategy() << "\")";

  eplb::EplbProblem problem = group.getProblem();
  const int64_t layers = problem.numLayers, experts = problem.numExperts,
                slots = problem.numReplicas;
  auto checkShape = [&](StringRef name, DenseIntElementsAttr values,
                        ArrayRef<int64_t> shape,
                        StringRef meaning) -> LogicalResult {
    ArrayRef<int64_t> actual = values.getType().getShape();
    bool ok = actual.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i)
      ok = shape[i] < 0 ? actual[i] >= 1 : actual[i] == shape[i];
    if (ok)
      return success();
    return emitOpError() << name << " must have shape " << meaning << " for @"
                         << group.getSymName() << "; got " << values.getType();
  };
  std::string perLayerSlots = std::to_string(layers) + " x " +
                              std::to_string(slots) + " (layers x slots)";
  std::string perLayerExperts = std::to_string(layers) + " x " +
                                std::to_string(experts) + " (layers x experts)";
  if (failed(checkShape("phy2log", getPhy2log(), {layers, slots},
                        perLayerSlots)) ||
      failed(checkShape("logcnt", getLogcnt(), {layers, experts},
                        perLayerExperts)) ||
      failed(checkShape("log2phy", getLog2phy(), {layers, experts, -1},
                        perLayerExperts + " x max replicas")))
    return failure();
  for (auto [name, values] : {std::pair{"balancedness", getBalancedness()},
                              std::pair{"max_load", getMaxLoad()}}) {
    if (static_cast<int64_t>(values.size()) != layers)
      return emitOpError() << name << " has " << values.size()
                           << " entries; expected one per layer (" << layers
                           << ")";
    for (double value : values)
      if (!std::isfinite(value) || value < 0)
        return emitOpError() << name << " values must be finite and "
                             << "non-negative (got " << value << ")";
  }
  if (std::optional<int64_t> moved = getMoved(); moved && *moved < 0)
    return emitOpError() << "moved must be non-negative (got " << *moved << ")";

  if (std::optional<std::string> broken =
          eplb::checkPlacement(problem, getValue()))
    return emitOpError() << "is inconsistent: " << *broken;
  return success();
}
