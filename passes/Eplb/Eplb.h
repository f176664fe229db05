//===- Eplb.h - Expert-parallel load balancing ------------------*- C++ -*-===//
//
// A port of DeepSeek's EPLB (github.com/deepseek-ai/EPLB, eplb.py): given the
// load of every logical expert in every MoE layer, choose how many replicas
// (physical slots) each expert gets and which GPU slot holds each replica.
// Plain C++20; nothing here depends on MLIR or LLVM.
//
// The "reference" policy reproduces `rebalance_experts` bit for bit:
// hierarchical (expert groups packed onto nodes, experts replicated within
// each node, replicas packed onto the node's GPUs) when the number of nodes
// divides the number of groups, global (one node, one group) otherwise. It
// computes in float32 like the reference's tensors. Where the reference's
// result depends on an unspecified order, pipeweave fixes one:
//
//  * sort(descending=True) is torch's default unstable sort (std::sort or
//    x86-simd-sort, depending on the build), so the reference orders equal
//    loads arbitrarily. pipeweave sorts stably: equal loads keep index order.
//    Equal loads always occur between replicas of one expert; there the order
//    only decides which replica rank lands in which slot (the column order of
//    log2phy), never phy2log or logcnt.
//  * max(dim=-1).indices (replication) and Python's min() over packs take the
//    first index among equal values; pipeweave does the same.
//  * A group's load (step 1) is summed in double in expert order and rounded
//    to float32 once; torch's float32 reduction order is build-specific. The
//    two agree whenever the sum is exact in float32 (integer token counts
//    below 2^24), and otherwise differ by at most an ulp.
//
// Beyond the reference, as named policy options (see parsePolicy):
//  * refine: local search on the reference's result (replica swaps between
//    GPUs, moving a replica slot to another expert, and for the hierarchical
//    strategy swapping whole groups between nodes) that lowers the maximum
//    GPU load. The result is never worse than the reference's; a layer
//    whose maximum it cannot lower keeps the reference's placement.
//  * no-colocated-replicas: no GPU holds two replicas of one expert.
//  * min-migration: given the previous placement, relabels GPUs (and nodes)
//    and orders slots so that as few slots as possible change expert; every
//    replica whose GPU keeps the expert stays in its old slot.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EPLB_EPLB_H
#define PIPEWEAVE_EPLB_EPLB_H

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pipeweave::eplb {

//===----------------------------------------------------------------------===//
// Problems and policies
//===----------------------------------------------------------------------===//

/// The reference's arguments: `loads` is its `weight` ([numLayers x
/// numExperts], row-major), `numReplicas` its `num_replicas` (physical slots).
struct EplbProblem {
  int64_t numLayers = 0;
  int64_t numExperts = 0;
  std::vector<double> loads;
  int64_t numReplicas = 0;
  int64_t numGroups = 0;
  int64_t numNodes = 0;
  int64_t numGpus = 0;

  double load(int64_t layer, int64_t expert) const {
    return loads[layer * numExperts + expert];
  }
};

/// How replicas are placed: the reference's choice, or one forced.
enum class Strategy { Auto, Hierarchical, Global };

struct PolicyOptions {
  Strategy strategy = Strategy::Auto;
  bool refine = false;
  bool noColocatedReplicas = false;
  bool minMigration = false; // needs a previous placement
};

/// Parses a comma-separated list of policy names: at most one of
/// `reference` (Strategy::Auto, the default), `hierarchical`, `global`, plus
/// any of `refine`, `no-colocated-replicas`, `min-migration`. On failure
/// returns std::nullopt and sets `error`.
std::optional<PolicyOptions> parsePolicy(std::string_view text,
                                         std::string &error);
/// The canonical text of `options` (parsePolicy's inverse).
std::string formatPolicy(const PolicyOptions &options);
/// The accepted names, for help texts: "reference, hierarchical, ...".
std::string_view policyNameList();

/// Whether `problem` is solved hierarchically under `strategy` (Auto:
/// numGroups % numNodes == 0, as the reference decides).
bool usesHierarchical(const EplbProblem &problem, Strategy strategy);

/// What each input is called where it came from, so that errors name the
/// field the user wrote. `loads` is the load matrix; `experts` and `layers`
/// name its dimensions.
struct FieldNames {
  std::string_view loads, layers, experts, replicas, groups, nodes, gpus;
};
/// The reference's (and `pwc eplb`'s) names: weight, num_replicas, ...
extern const FieldNames kReferenceFieldNames;

struct InputError {
  std::string field;   // a FieldNames entry
  std::string message; // a full sentence that starts with the field
};

/// The checks the reference asserts, under the options' strategy: positive
/// sizes, replicas a multiple of GPUs and at least the experts; for the
/// hierarchical strategy also experts a multiple of groups and GPUs a
/// multiple of nodes (and, when forced, groups a multiple of nodes). With
/// no-colocated-replicas, a GPU cannot have more slots than there are
/// experts to fill them with. Loads are not looked at.
std::optional<InputError> checkShape(const EplbProblem &problem,
                                     const PolicyOptions &options,
                                     const FieldNames &names);

/// checkShape, then: `loads` has numLayers x numExperts values, each finite
/// (also as float32) and non-negative.
std::optional<InputError> checkProblem(const EplbProblem &problem,
                                       const PolicyOptions &options,
                                       const FieldNames &names);

//===----------------------------------------------------------------------===//
// Placements
//===----------------------------------------------------------------------===//

/// The reference's outputs, plus the replica rank of every slot.
struct Placement {
  int64_t numLayers = 0;
  int64_t numExperts = 0;
  int64_t numReplicas = 0;
  int64_t maxReplicas = 0;      // log2phy's last dimension (max of logcnt)
  bool hierarchical = false;    // which strategy produced it
  std::vector<int64_t> phy2log; // [layers x replicas]: expert of each slot
  std::vector<int64_t> phyRank; // [layers x replicas]: replica rank
  std::vector<int64_t> logcnt;  // [layers x experts]: replicas per expert
  std::vector<int64_t> log2phy; // [layers x experts x maxReplicas], -1 pads

  int64_t expertAt(int64_t layer, int64_t slot) const {
    return phy2log[layer * numReplicas + slot];
  }
};

/// Checks a previous placement's phy2log for min-migration: numLayers x
/// numReplicas expert ids, each in [0, numExperts). `field` names it.
std::optional<InputError>
checkPreviousPhy2Log(const EplbProblem &problem,
                     std::span<const int64_t> previousPhy2Log,
                     std::string_view field);

/// Solves `problem`. Preconditions: checkProblem(problem, options) passes;
/// with options.minMigration, `previousPhy2Log` passes checkPreviousPhy2Log.
Placement rebalanceExperts(const EplbProblem &problem,
                           const PolicyOptions &options,
                           std::span<const int64_t> previousPhy2Log = {});

/// Checks the invariants of any placement for `problem`: shapes, every
/// expert has at least one replica, logcnt counts phy2log, log2phy lists
/// exactly each expert's slots (ranks 0..logcnt-1, -1 after). Returns a
/// description of the first violation.
std::optional<std::string> checkPlacement(const EplbProblem &problem,
                                          const Placement &placement);

//===----------------------------------------------------------------------===//
// Metrics
//===----------------------------------------------------------------------===//

/// One layer's balance. A GPU's load is the sum over its slots of the
/// expert's load divided by the expert's replica count.
struct LayerBalance {
  double maxGpuLoad = 0;
  double meanGpuLoad = 0;
  /// vLLM's definition: mean / max GPU load (1 when every GPU is idle).
  double balancedness = 1;
  /// No placement can do better than max(mean GPU load, the smallest
  /// achievable largest single-replica load over all replica counts).
  double lowerBound = 0;
  /// maxGpuLoad / lowerBound - 1 (0 when the bound is 0).
  double gapToBound = 0;
};

std::vector<LayerBalance> measureBalance(const EplbProblem &problem,
                                         const Placement &placement);

/// Per layer, how many slots hold a different expert in `next` than in
/// `previousPhy2Log` (each one is an expert's weights to copy in).
std::vector<int64_t> countMovedSlots(std::span<const int64_t> previousPhy2Log,
                                     const Placement &next);

//===----------------------------------------------------------------------===//
// The reference's building blocks, on one row (exposed for tests)
//===----------------------------------------------------------------------===//

/// balanced_packing: items in descending load order (stable) each go to the
/// lightest pack (first index among equals) that still has room; every pack
/// gets items.size() / numPacks items. Pack sums accumulate in float32.
void balancedPacking(std::span<const float> weights, int64_t numPacks,
                     std::span<int64_t> packIndex,
                     std::span<int64_t> rankInPack);

/// replicate_experts: starting from one replica each, every further replica
/// goes to the expert with the largest load / count (float32 division; first
/// index among equals). `phy2log` and `rank` have numPhysical entries,
/// `logcnt` weights.size().
void replicateExperts(std::span<const float> weights, int64_t numPhysical,
                      std::span<int64_t> phy2log, std::span<int64_t> rank,
                      std::span<int64_t> logcnt);

} // namespace pipeweave::eplb

#endif // PIPEWEAVE_EPLB_EPLB_H
