//===- Reference.cpp - The reference's packing and replication ------------===//
//
// balanced_packing and replicate_experts of eplb.py, and the per-node steps
// of rebalance_experts_hierarchical built from them. Arithmetic is float32
// where the reference's tensors are; the tie rules are listed in Eplb.h.
// Both greedy loops pick exactly what the reference's linear min/argmax
// picks (value, then lowest index): by a branch-free scan when there are few
// candidates, else from a binary heap with the same order.
//
//===----------------------------------------------------------------------===//

#include "passes/Eplb/Internal.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>
#include <numeric>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::detail;

/// Below this many packs (or replicas to add), a linear scan beats a heap.
static constexpr int64_t kLinearScanLimit = 16;

Layout detail::makeLayout(const EplbProblem &problem, Strategy strategy) {
  Layout layout;
  layout.experts = problem.numExperts;
  layout.replicas = problem.numReplicas;
  layout.gpus = problem.numGpus;
  layout.hierarchical = usesHierarchical(problem, strategy);
  if (layout.hierarchical) {
    layout.groups = problem.numGroups;
    layout.domains = problem.numNodes;
  }
  return layout;
}

void LayerPlan::resize(const Layout &layout) {
  slotExpert.assign(layout.replicas, 0);
  slotRank.assign(layout.replicas, 0);
  count.assign(layout.experts, 0);
  domainGroups.assign(layout.domains, {});
}

/// Stable descending order of `weights` into `order`. Each item becomes one
/// 64-bit key (inverted float bits above the index), so that sorting the
/// distinct keys yields the stable order. Precondition: weights are finite
/// and non-negative, where the float bit pattern orders like the value. The
/// keys are merge-sorted with branch-free merges: a node's few dozen
/// replicas are too few for a comparison sort's mispredicted branches to pay
/// off.
static void sortDescending(std::span<const float> weights,
                           std::vector<int32_t> &order,
                           std::vector<uint64_t> &keys) {
  const size_t n = weights.size();
  keys.resize(2 * n);
  uint64_t *from = keys.data(), *to = keys.data() + n;
  for (size_t i = 0; i < n; ++i) {
    float weight = weights[i] + 0.0f; // -0 becomes +0
    uint32_t bits;
    std::memcpy(&bits, &weight, sizeof(bits));
    from[i] = (uint64_t(~bits) << 32) | uint32_t(i);
  }
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t low = 0; low < n; low += 2 * width) {
      size_t middle = std::min(low + width, n),
             high = std::min(low + 2 * width, n);
      size_t left = low, right = middle, out = low;
      while (left < middle && right < high) {
        bool takeRight = from[right] < from[left];
        to[out++] = takeRight ? from[right] : from[left];
        right += takeRight;
        left += !takeRight;
      }
      while (left < middle)
        to[out++] = from[left++];
      while (right < high)
        to[out++] = from[right++];
    }
    std::swap(from, to);
  }
  order.resize(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = static_cast<int32_t>(from[i] & 0xffffffffu);
}

/// balanced_packing on one row, with caller-provided scratch.
static void packBalanced(std::span<const float> weights, int64_t numPacks,
                         int64_t *packIndex, int64_t *rankInPack,
                         Workspace &ws) {
  const int64_t numItems = weights.size();
  const int64_t perPack = numItems / numPacks;
  if (perPack == 1) {
    for (int64_t item = 0; item < numItems; ++item) {
      packIndex[item] = item;
      rankInPack[item] = 0;
    }
    return;
  }
  sortDescending(weights, ws.order, ws.sortKeys);
  std::vector<float> &packWeight = ws.running;
  std::vector<int64_t> &packItems = ws.packSizes;
  packWeight.assign(numPacks, 0.0f);
  packItems.assign(numPacks, 0);
  if (numPacks <= kLinearScanLimit) {
    // Few packs: a first-index argmin over all packs, where a full pack
    // weighs +inf (loads are finite), is min() over the packs with room.
    constexpr float kFull = std::numeric_limits<float>::infinity();
    for (int32_t item : ws.order) {
      // Branch-free first-index argmin: the comparisons are unpredictable.
      int64_t pack = 0;
      float lightest = packWeight[0];
      for (int64_t p = 1; p < numPacks; ++p) {
        bool lighter = packWeight[p] < lightest;
        lightest = lighter ? packWeight[p] : lightest;
        pack = lighter ? p : pack;
      }
      packIndex[item] = pack;
      rankInPack[item] = packItems[pack];
      packWeight[pack] += weights[item];
      if (++packItems[pack] == perPack)
        packWeight[pack] = kFull;
    }
    return;
  }
  // A max-heap whose top is the lightest pack, lowest index among equals:
  // the pack Python's min() picks.
  auto heavierFirst = [&](int32_t a, int32_t b) {
    return packWeight[a] > packWeight[b] ||
           (packWeight[a] == packWeight[b] && a > b);
  };
  std::vector<int32_t> &heap = ws.heap;
  heap.resize(numPacks);
  std::iota(heap.begin(), heap.end(), 0);
  std::make_heap(heap.begin(), heap.end(), heavierFirst);
  for (int32_t item : ws.order) {
    std::pop_heap(heap.begin(), heap.end(), heavierFirst);
    int32_t pack = heap.back();
    packIndex[item] = pack;
    rankInPack[item] = packItems[pack];
    packWeight[pack] += weights[item];
    if (++packItems[pack] < perPack)
      std::push_heap(heap.begin(), heap.end(), heavierFirst);
    else
      heap.pop_back();
  }
}

void pipeweave::eplb::balancedPacking(std::span<const float> weights,
                                      int64_t numPacks,
                                      std::span<int64_t> packIndex,
                                      std::span<int64_t> rankInPack) {
  assert(numPacks > 0 && weights.size() % numPacks == 0);
  assert(packIndex.size() == weights.size() &&
         rankInPack.size() == weights.size());
  Workspace ws;
  packBalanced(weights, numPacks, packIndex.data(), rankInPack.data(), ws);
}

/// replicate_experts on one row; an expert stops receiving replicas at
/// `maxCount` (unbounded for the reference).
static void replicate(std::span<const float> weights, int64_t numPhysical,
                      int64_t maxCount, int64_t *phy2log, int64_t *rank,
                      int64_t *logcnt, Workspace &ws) {
  const int64_t numLogical = weights.size();
  assert(numPhysical >= numLogical);
  std::vector<float> &perReplica = ws.running;
  perReplica.assign(weights.begin(), weights.end());
  for (int64_t e = 0; e < numLogical; ++e) {
    phy2log[e] = e;
    rank[e] = 0;
    logcnt[e] = 1;
  }
  // Top: the largest load per replica, lowest index among equals (the
  // first index torch's max(dim) returns).
  auto lowerFirst = [&](int32_t a, int32_t b) {
    return perReplica[a] < perReplica[b] ||
           (perReplica[a] == perReplica[b] && a > b);
  };
  if (numPhysical - numLogical <= kLinearScanLimit) {
    // Few replicas to add: torch's first-index argmax, over the experts
    // that may still grow (a capped expert's value is -inf; loads are
    // finite and non-negative).
    constexpr float kCapped = -std::numeric_limits<float>::infinity();
    if (maxCount <= 1)
      std::fill(perReplica.begin(), perReplica.end(), kCapped);
    for (int64_t phy = numLogical; phy < numPhysical; ++phy) {
      int64_t expert = 0;
      float largest = perReplica[0];
      for (int64_t e = 1; e < numLogical; ++e) {
        bool larger = perReplica[e] > largest;
        largest = larger ? perReplica[e] : largest;
        expert = larger ? e : expert;
      }
      assert(perReplica[expert] != kCapped &&
             "more slots than the replica caps allow");
      phy2log[phy] = expert;
      rank[phy] = logcnt[expert];
      ++logcnt[expert];
      perReplica[expert] =
          logcnt[expert] < maxCount
              ? weights[expert] / static_cast<float>(logcnt[expert])
              : kCapped;
    }
    return;
  }
  std::vector<int32_t> &heap = ws.heap;
  heap.clear();
  if (maxCount > 1)
    for (int64_t e = 0; e < numLogical; ++e)
      heap.push_back(e);
  std::make_heap(heap.begin(), heap.end(), lowerFirst);
  for (int64_t phy = numLogical; phy < numPhysical; ++phy) {
    assert(!heap.empty() && "more slots than the replica caps allow");
    std::pop_heap(heap.begin(), heap.end(), lowerFirst);
    int32_t expert = heap.back();
    phy2log[phy] = expert;
    rank[phy] = logcnt[expert];
    ++logcnt[expert];
    perReplica[expert] = weights[expert] / static_cast<float>(logcnt[expert]);
    if (logcnt[expert] < maxCount)
      std::push_heap(heap.begin(), heap.end(), lowerFirst);
    else
      heap.pop_back();
  }
}

void pipeweave::eplb::replicateExperts(std::span<const float> weights,
                                       int64_t numPhysical,
                                       std::span<int64_t> phy2log,
                                       std::span<int64_t> rank,
                                       std::span<int64_t> logcnt) {
  assert(phy2log.size() == static_cast<size_t>(numPhysical) &&
         rank.size() == phy2log.size() && logcnt.size() == weights.size());
  Workspace ws;
  replicate(weights, numPhysical, numPhysical + 1, phy2log.data(), rank.data(),
            logcnt.data(), ws);
}

/// Like packBalanced, but a pack never takes a second item of one expert
/// (`itemExpert`). When every pack with room already holds the item's
/// expert, a full pack without it hands one of its items (one whose expert
/// the open pack lacks) to the open pack and takes the new item instead;
/// such a pair always exists while no expert has more items than packs.
static void packWithoutColocation(std::span<const float> weights,
                                  std::span<const int64_t> itemExpert,
                                  int64_t numPacks, int64_t *packIndex,
                                  int64_t *rankInPack, Workspace &ws) {
  const int64_t numItems = weights.size();
  const int64_t perPack = numItems / numPacks;
  sortDescending(weights, ws.order, ws.sortKeys);
  std::vector<float> packWeight(numPacks, 0.0f);
  std::vector<int64_t> packSize(numPacks, 0);
  std::vector<int64_t> packItem(numPacks * perPack, -1);
  auto holds = [&](int64_t pack, int64_t expert) {
    for (int64_t r = 0; r < packSize[pack]; ++r)
      if (itemExpert[packItem[pack * perPack + r]] == expert)
        return true;
    return false;
  };
  auto place = [&](int64_t item, int64_t pack, int64_t rank) {
    packItem[pack * perPack + rank] = item;
    packIndex[item] = pack;
    rankInPack[item] = rank;
  };
  for (int32_t item : ws.order) {
    int64_t expert = itemExpert[item];
    int64_t best = -1;
    for (int64_t pack = 0; pack < numPacks; ++pack)
      if (packSize[pack] < perPack && !holds(pack, expert) &&
          (best < 0 || packWeight[pack] < packWeight[best]))
        best = pack;
    if (best >= 0) {
      place(item, best, packSize[best]++);
      packWeight[best] += weights[item];
      continue;
    }
    int64_t open = -1;
    for (int64_t pack = 0; pack < numPacks; ++pack)
      if (packSize[pack] < perPack &&
          (open < 0 || packWeight[pack] < packWeight[open]))
        open = pack;
    assert(open >= 0);
    int64_t bestPack = -1, bestRank = -1;
    float bestPeak = 0;
    for (int64_t pack = 0; pack < numPacks; ++pack) {
      if (pack == open || holds(pack, expert))
        continue;
      for (int64_t r = 0; r < packSize[pack]; ++r) {
        int64_t other = packItem[pack * perPack + r];
        if (holds(open, itemExpert[other]))
          continue;
        float peak = std::max(packWeight[pack] - weights[other] + weights[item],
                              packWeight[open] + weights[other]);
        if (bestPack < 0 || peak < bestPeak) {
          bestPack = pack;
          bestRank = r;
          bestPeak = peak;
        }
      }
    }
    assert(bestPack >= 0 && "no exchange keeps replicas apart");
    int64_t moved = packItem[bestPack * perPack + bestRank];
    place(moved, open, packSize[open]++);
    packWeight[open] += weights[moved];
    place(item, bestPack, bestRank);
    packWeight[bestPack] += weights[item] - weights[moved];
  }
}

void detail::assignGroups(const Layout &layout, std::span<const float> loads,
                          LayerPlan &plan, Workspace &ws) {
  const int64_t groupSize = layout.groupSize();
  std::vector<float> &groupLoad = ws.groupLoads;
  groupLoad.resize(layout.groups);
  for (int64_t g = 0; g < layout.groups; ++g) {
    double sum = 0;
    for (int64_t j = 0; j < groupSize; ++j)
      sum += loads[g * groupSize + j];
    groupLoad[g] = static_cast<float>(sum);
  }
  std::vector<int64_t> &pack = ws.groupPack, &rank = ws.groupRank;
  pack.resize(layout.groups);
  rank.resize(layout.groups);
  packBalanced(groupLoad, layout.domains, pack.data(), rank.data(), ws);
  for (auto &groups : plan.domainGroups)
    groups.assign(layout.groupsPerDomain(), -1);
  for (int64_t g = 0; g < layout.groups; ++g)
    plan.domainGroups[pack[g]][rank[g]] = g;
}

void detail::domainExperts(const Layout &layout, const LayerPlan &plan,
                           int64_t domain, std::vector<int64_t> &experts) {
  const int64_t groupSize = layout.groupSize();
  experts.clear();
  for (int64_t group : plan.domainGroups[domain])
    for (int64_t j = 0; j < groupSize; ++j)
      experts.push_back(group * groupSize + j);
}

void detail::solveDomain(const Layout &layout, std::span<const float> loads,
                         int64_t domain, bool noColocation, LayerPlan &plan,
                         Workspace &ws) {
  const int64_t numSlots = layout.slotsPerDomain();
  const int64_t numGpus = layout.gpusPerDomain();
  const int64_t perGpu = layout.slotsPerGpu();
  std::vector<int64_t> &experts = ws.experts;
  domainExperts(layout, plan, domain, experts);
  const int64_t numExperts = experts.size();

  // Step 2: replicas within the domain, over its experts in "mlog" order.
  std::vector<float> &tokens = ws.expertLoads;
  tokens.resize(numExperts);
  for (int64_t k = 0; k < numExperts; ++k)
    tokens[k] = loads[experts[k]];
  std::vector<int64_t> &phy2mlog = ws.phyExpert, &phyRank = ws.phyRank,
                       &mlogCount = ws.expertCount;
  phy2mlog.resize(numSlots);
  phyRank.resize(numSlots);
  mlogCount.resize(numExperts);
  replicate(tokens, numSlots, noColocation ? numGpus : numSlots + 1,
            phy2mlog.data(), phyRank.data(), mlogCount.data(), ws);

  // Step 3: replicas onto the domain's GPUs by load per replica.
  std::vector<float> &perReplica = ws.replicaLoads;
  perReplica.resize(numSlots);
  for (int64_t p = 0; p < numSlots; ++p)
    perReplica[p] =
        tokens[phy2mlog[p]] / static_cast<float>(mlogCount[phy2mlog[p]]);
  std::vector<int64_t> &pack = ws.phyPack;
  std::vector<int64_t> &rankInPack = ws.phyRankInPack;
  pack.resize(numSlots);
  rankInPack.resize(numSlots);
  if (noColocation)
    packWithoutColocation(perReplica, phy2mlog, numGpus, pack.data(),
                          rankInPack.data(), ws);
  else
    packBalanced(perReplica, numGpus, pack.data(), rankInPack.data(), ws);

  const int64_t firstSlot = domain * numSlots;
  for (int64_t p = 0; p < numSlots; ++p) {
    int64_t slot = firstSlot + pack[p] * perGpu + rankInPack[p];
    plan.slotExpert[slot] = experts[phy2mlog[p]];
    plan.slotRank[slot] = phyRank[p];
  }
  for (int64_t k = 0; k < numExperts; ++k)
    plan.count[experts[k]] = mlogCount[k];
}

void detail::gpuLoads(const Layout &layout, std::span<const float> loads,
                      const LayerPlan &plan, std::vector<double> &out) {
  const int64_t perGpu = layout.slotsPerGpu();
  out.assign(layout.gpus, 0.0);
  for (int64_t slot = 0; slot < layout.replicas; ++slot) {
    int64_t expert = plan.slotExpert[slot];
    out[slot / perGpu] +=
        static_cast<double>(loads[expert]) / plan.count[expert];
  }
}
