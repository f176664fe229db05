//===- MoeEplb.cpp - balance a moe.expert_group, attach its placement -----===//

#include "dialect/Moe/LoadsJson.h"
#include "passes/Moe/MoePasses.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace pipeweave {
#define GEN_PASS_DEF_MOEEPLB
#include "passes/Moe/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {

/// A relative loads_file is taken from `directory` when given, else from the
/// directory of the file the group was parsed from (so that a spec and its
/// loads travel together), else from the working directory.
std::string resolveLoadsFile(moe::ExpertGroupOp group, StringRef path,
                             StringRef directory) {
  if (llvm::sys::path::is_absolute(path))
    return path.str();
  SmallString<256> candidate;
  if (!directory.empty()) {
    candidate = directory;
    llvm::sys::path::append(candidate, path);
    return candidate.str().str();
  }
  if (auto file = dyn_cast<FileLineColLoc>(group.getLoc())) {
    candidate = llvm::sys::path::parent_path(file.getFilename().getValue());
    llvm::sys::path::append(candidate, path);
    if (llvm::sys::fs::exists(candidate))
      return candidate.str().str();
  }
  return path.str();
}

DenseIntElementsAttr int64Tensor(MLIRContext *context, ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get(shape, IntegerType::get(context, 64));
  return DenseIntElementsAttr::get(type, values);
}

struct MoeEplbPass : pipeweave::impl::MoeEplbBase<MoeEplbPass> {
  using MoeEplbBase::MoeEplbBase;

  void runOnOperation() override {
    if (failed(balance(getOperation())))
      signalPassFailure();
  }

  LogicalResult balance(moe::ExpertGroupOp group) {
    std::string error;
    std::optional<eplb::PolicyOptions> options =
        eplb::parsePolicy(policy, error);
    if (!options)
      return group.emitError() << "moe-eplb: " << error;

    eplb::EplbProblem problem = group.getProblem();
    if (StringAttr file = group.getLoadsFileAttr()) {
      eplb::EplbProblem fromFile;
      std::string path = resolveLoadsFile(group, file.getValue(), loadsDir);
      if (std::optional<std::string> problemText =
              moe::readLoadsFile(path, fromFile))
        return group.emitError() << "loads_file of @" << group.getSymName()
                                 << ": " << *problemText;
      if (fromFile.numLayers != problem.numLayers ||
          fromFile.numExperts != problem.numExperts)
        return group.emitError()
               << "loads_file '" << file.getValue() << "' has "
               << fromFile.numLayers << " layers x " << fromFile.numExperts
               << " experts, but @" << group.getSymName() << " has "
               << problem.numLayers << " layers x " << problem.numExperts
               << " experts";
      problem.loads = std::move(fromFile.loads);
    }
    if (std::optional<eplb::InputError> problemError =
            eplb::checkProblem(problem, *options, moe::kMoeFieldNames))
      return group.emitError()
             << "cannot balance @" << group.getSymName() << " with policy '"
             << eplb::formatPolicy(*options) << "': " << problemError->message;

    moe::PlacementOp previous = group.getPlacement();
    std::vector<int64_t> previousPhy2Log;
    if (options->minMigration) {
      if (!previous)
        return group.emitError()
               << "policy 'min-migration' needs the previous placement of @"
               << group.getSymName()
               << " in its body (run --moe-eplb without it first)";
      previousPhy2Log = previous.getValue().phy2log;
    }

    eplb::Placement placement =
        eplb::rebalanceExperts(problem, *options, previousPhy2Log);
    std::vector<eplb::LayerBalance> balance =
        eplb::measureBalance(problem, placement);
    std::vector<double> balancedness, maxLoad;
    for (const eplb::LayerBalance &layer : balance) {
      balancedness.push_back(layer.balancedness);
      maxLoad.push_back(layer.maxGpuLoad);
    }

    MLIRContext *context = group.getContext();
    OpBuilder builder(context);
    IntegerAttr moved;
    if (options->minMigration) {
      int64_t total = 0;
      for (int64_t count : eplb::countMovedSlots(previousPhy2Log, placement))
        total += count;
      moved = builder.getI64IntegerAttr(total);
    }
    if (previous)
      previous.erase();
    if (group.getBody().empty())
      group.getBody().push_back(new Block());
    builder.setInsertionPointToEnd(&group.getBody().front());
    const int64_t layers = problem.numLayers, experts = problem.numExperts;
    builder.create<moe::PlacementOp>(
        group.getLoc(), builder.getStringAttr(eplb::formatPolicy(*options)),
        builder.getStringAttr(placement.hierarchical ? "hierarchical"
                                                     : "global"),
        int64Tensor(context, {layers, problem.numReplicas}, placement.phy2log),
        int64Tensor(context, {layers, experts, placement.maxReplicas},
                    placement.log2phy),
        int64Tensor(context, {layers, experts}, placement.logcnt),
        builder.getDenseF64ArrayAttr(balancedness),
        builder.getDenseF64ArrayAttr(maxLoad), moved);
    return success();
  }
};

} // namespace
