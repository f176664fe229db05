//===- Internal.h - EPLB building blocks shared by the policies -*- C++ -*-===//
//
// One layer at a time: the reference's steps split per node ("domain": a node
// for the hierarchical strategy, the whole cluster for the global one), so
// that refine and min-migration can redo or rearrange single nodes.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EPLB_INTERNAL_H
#define PIPEWEAVE_EPLB_INTERNAL_H

#include "passes/Eplb/Eplb.h"

#include <cstdint>
#include <span>
#include <vector>

namespace pipeweave::eplb::detail {

/// The sizes of one solve. The global strategy is the hierarchical one with
/// one group and one node, exactly as the reference runs it.
struct Layout {
  int64_t experts = 0;
  int64_t replicas = 0;
  int64_t gpus = 0;
  int64_t groups = 1;
  int64_t domains = 1; // nodes
  bool hierarchical = false;

  int64_t groupSize() const { return experts / groups; }
  int64_t groupsPerDomain() const { return groups / domains; }
  int64_t expertsPerDomain() const { return experts / domains; }
  int64_t slotsPerDomain() const { return replicas / domains; }
  int64_t gpusPerDomain() const { return gpus / domains; }
  int64_t slotsPerGpu() const { return replicas / gpus; }
};

Layout makeLayout(const EplbProblem &problem, Strategy strategy);

/// One layer's placement under construction.
struct LayerPlan {
  std::vector<int64_t> slotExpert; // [replicas]
  std::vector<int64_t> slotRank;   // [replicas]
  std::vector<int64_t> count;      // [experts]
  /// For each domain, its groups in slot order (the reference's rank of the
  /// group in its node). Global: the single group 0.
  std::vector<std::vector<int64_t>> domainGroups;

  void resize(const Layout &layout);
};

/// Scratch buffers reused across layers so that a solve allocates once,
/// named by the function that uses them.
struct Workspace {
  // Sorting (packing), and the greedy loops' running values and heap.
  std::vector<int32_t> order;
  std::vector<uint64_t> sortKeys;
  std::vector<float> running;
  std::vector<int64_t> packSizes;
  std::vector<int32_t> heap;
  // assignGroups.
  std::vector<float> groupLoads;
  std::vector<int64_t> groupPack, groupRank;
  // solveDomain.
  std::vector<int64_t> experts, phyExpert, phyRank, expertCount, phyPack,
      phyRankInPack;
  std::vector<float> expertLoads, replicaLoads;
  // Replica ranks in slot order.
  std::vector<int64_t> seen;
};

/// Step 1: packs the layer's groups onto domains by total load (the
/// reference's balanced_packing of group sums) and records them in
/// plan.domainGroups.
void assignGroups(const Layout &layout, std::span<const float> loads,
                  LayerPlan &plan, Workspace &ws);

/// Steps 2 and 3 for one domain: replicates the domain's experts (those of
/// plan.domainGroups[domain], in order) over its slots and packs the
/// replicas onto its GPUs. Writes the domain's slots and its experts'
/// counts. With `noColocation`, no expert gets more replicas than the domain
/// has GPUs, and no GPU receives two replicas of one expert.
void solveDomain(const Layout &layout, std::span<const float> loads,
                 int64_t domain, bool noColocation, LayerPlan &plan,
                 Workspace &ws);

/// The experts of `domain`, in the order solveDomain gives them.
void domainExperts(const Layout &layout, const LayerPlan &plan, int64_t domain,
                   std::vector<int64_t> &experts);

/// Per-GPU loads of the layer (double; each slot carries load / count).
void gpuLoads(const Layout &layout, std::span<const float> loads,
              const LayerPlan &plan, std::vector<double> &out);

/// Local search on a solved layer (see refine in Eplb.h). Never raises the
/// layer's maximum GPU load.
void refineLayer(const Layout &layout, std::span<const float> loads,
                 bool noColocation, LayerPlan &plan, Workspace &ws);

/// Relabels GPUs (within the strategy's structure) and orders each GPU's
/// slots to keep as many of `previous`'s slots as possible.
void minimizeMigration(const Layout &layout, std::span<const int64_t> previous,
                       LayerPlan &plan);

/// Maximum-weight perfect matching on an n x n matrix (row-major): returns
/// for each row its column. O(n^3).
std::vector<int64_t> maxWeightMatching(std::span<const int64_t> weights,
                                       int64_t n);

} // namespace pipeweave::eplb::detail

#endif // PIPEWEAVE_EPLB_INTERNAL_H
