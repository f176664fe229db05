//===- Refine.cpp - Local search below the greedy result ------------------===//
//
// The reference packs replicas greedily (largest first onto the lightest GPU)
// and fixes replica counts before packing. Starting from its result, refine
// repeatedly takes the most loaded GPU of a domain (a node for the
// hierarchical strategy, all GPUs for the global one) and applies
//
//  * the best swap of one of its replicas with a replica on another GPU of
//    the domain (slot counts stay equal); if there is none,
//  * the best retarget: one replica of an expert with two or more replicas
//    becomes a replica of another expert of the domain (reconsidering the
//    counts; every GPU holding either expert changes load); if there is
//    none,
//  * a retarget followed by a swap (new counts usually need a new packing),
//
// accepting a move only when every GPU it changes ends strictly below the
// current maximum. Each move thus lowers the maximum or the number of GPUs
// at it, so the search ends. For the hierarchical strategy it then tries
// exchanging whole groups between the most loaded node and another one
// (re-solving and refining both), so that groups stay on one node as the
// reference keeps them.
//
//===----------------------------------------------------------------------===//

#include "passes/Eplb/Internal.h"

#include <algorithm>
#include <cassert>
#include <limits>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::detail;

namespace {

/// Loads within this relative distance of the maximum count as at it, so
/// that rounding in the running sums cannot make a move look like progress.
constexpr double kRelativeTolerance = 1e-12;

class DomainRefiner {
public:
  DomainRefiner(const Layout &layout, std::span<const float> loads,
                bool noColocation, LayerPlan &plan, int64_t domain)
      : loads(loads), noColocation(noColocation), plan(plan),
        perGpu(layout.slotsPerGpu()), numGpus(layout.gpusPerDomain()),
        numSlots(layout.slotsPerDomain()), firstSlot(domain * numSlots) {
    domainExperts(layout, plan, domain, experts);
    slotsOf.assign(layout.experts, {});
    share.assign(layout.experts, 0.0);
    for (int64_t local = 0; local < numSlots; ++local)
      slotsOf[expertAt(local)].push_back(local);
    for (int64_t expert : experts)
      share[expert] = perReplica(expert, plan.count[expert]);
    recomputeLoads();
    delta.assign(numGpus, 0.0);
    isTouched.assign(numGpus, false);
    toChange.assign(numGpus, 0.0);
    toMark.assign(numGpus, 0);
  }

  void run() {
    const int64_t maxMoves = 10 * numSlots + 100;
    for (int64_t moves = 0; moves < maxMoves; ++moves)
      if (!improveOnce())
        break;
  }

  double maxLoad() const {
    return *std::max_element(gpuLoad.begin(), gpuLoad.end());
  }

private:
  struct Move {
    bool isSwap = true;
    int64_t slot = -1;  // swap: on the unloaded GPU; retarget: the slot
    int64_t other = -1; // swap: the partner slot; retarget: the new expert
    double peak = std::numeric_limits<double>::infinity();
  };

  int64_t expertAt(int64_t local) const {
    return plan.slotExpert[firstSlot + local];
  }
  int64_t gpuOf(int64_t local) const { return local / perGpu; }
  double perReplica(int64_t expert, int64_t count) const {
    return static_cast<double>(loads[expert]) / count;
  }
  void recomputeLoads() {
    gpuLoad.assign(numGpus, 0.0);
    for (int64_t local = 0; local < numSlots; ++local)
      gpuLoad[gpuOf(local)] += share[expertAt(local)];
  }

  /// The domain as it is.
  struct CurrentView {
    const DomainRefiner &self;
    int64_t expert(int64_t slot) const { return self.expertAt(slot); }
    double shareOf(int64_t expert) const { return self.share[expert]; }
    double load(int64_t gpu) const { return self.gpuLoad[gpu]; }
  };
  /// The domain after the staged retarget (stageFrom, then collectTo).
  struct RetargetView {
    const DomainRefiner &self;
    const Move &retarget;
    int64_t from;
    int64_t expert(int64_t slot) const {
      return slot == retarget.slot ? retarget.other : self.expertAt(slot);
    }
    double shareOf(int64_t expert) const {
      return expert == from             ? self.stagedFromShare
             : expert == retarget.other ? self.stagedToShare
                                        : self.share[expert];
    }
    double load(int64_t gpu) const {
      return self.gpuLoad[gpu] + self.delta[gpu];
    }
  };

  template <typename View>
  bool holds(const View &view, int64_t gpu, int64_t expert) const {
    for (int64_t r = 0; r < perGpu; ++r)
      if (view.expert(gpu * perGpu + r) == expert)
        return true;
    return false;
  }

  bool improveOnce() {
    int64_t top =
        std::max_element(gpuLoad.begin(), gpuLoad.end()) - gpuLoad.begin();
    double limit = gpuLoad[top] * (1 - kRelativeTolerance);
    if (gpuLoad[top] <= 0)
      return false;
    // Swaps first: they are cheaper to find and keep the replica counts.
    Move best;
    findSwap(CurrentView{*this}, top, limit, best);
    if (best.slot < 0)
      findRetarget(top, limit, best);
    if (best.slot >= 0) {
      apply(best);
      return true;
    }
    return retargetThenSwap(top, limit);
  }

  /// The best swap of a replica on `gpu` with one elsewhere after which
  /// both GPUs are below `limit`; improves `best` if it beats best.peak.
  template <typename View>
  void findSwap(const View &view, int64_t gpu, double limit, Move &best) const {
    const double load = view.load(gpu);
    for (int64_t other = 0; other < numGpus; ++other) {
      const double otherLoad = view.load(other);
      // A swap moves d = (share here) - (share there) off `gpu`; it needs
      // load - limit < d < limit - otherLoad.
      if (other == gpu || otherLoad + (load - limit) >= limit)
        continue;
      for (int64_t r = 0; r < perGpu; ++r) {
        int64_t slot = gpu * perGpu + r;
        int64_t expert = view.expert(slot);
        double here = view.shareOf(expert);
        for (int64_t q = 0; q < perGpu; ++q) {
          int64_t otherSlot = other * perGpu + q;
          int64_t otherExpert = view.expert(otherSlot);
          if (otherExpert == expert)
            continue;
          double moved = here - view.shareOf(otherExpert);
          double peak = std::max(load - moved, otherLoad + moved);
          if (peak >= limit || peak >= best.peak)
            continue;
          if (noColocation &&
              (holds(view, gpu, otherExpert) || holds(view, other, expert)))
            continue;
          best = {/*isSwap=*/true, slot, otherSlot, peak};
        }
      }
    }
  }

  /// Calls `visit(slot, from, targets)` for each slot that a retarget
  /// changing `top` may rewrite: one slot per expert with two or more
  /// replicas and GPU holding it (which of an expert's slots on one GPU
  /// changes does not matter). A slot on `top` may take any other expert,
  /// other slots an expert that `top` holds.
  template <typename Visit> void forEachRetargetSlot(int64_t top, Visit visit) {
    std::vector<int64_t> onTop;
    for (int64_t r = 0; r < perGpu; ++r)
      if (std::find(onTop.begin(), onTop.end(), expertAt(top * perGpu + r)) ==
          onTop.end())
        onTop.push_back(expertAt(top * perGpu + r));
    for (int64_t from : experts) {
      if (plan.count[from] < 2)
        continue;
      int64_t lastGpu = -1;
      for (int64_t slot : slotsOf[from]) {
        int64_t gpu = gpuOf(slot);
        if (gpu == lastGpu)
          continue;
        lastGpu = gpu;
        visit(slot, from, gpu == top ? experts : onTop);
      }
    }
  }

  // A retarget is evaluated in two parts. The part that depends only on the
  // slot (its expert `from` loses a replica; the slot's own share leaves)
  // is staged once in delta/touched, and its GPUs' new loads are kept in
  // descending order. Each target `to` then only visits the GPUs that it
  // changes: the slot's GPU and the GPUs holding `to`.

  void add(int64_t gpu, double change) {
    if (!isTouched[gpu]) {
      isTouched[gpu] = true;
      touched.push_back(gpu);
    }
    delta[gpu] += change;
  }

  void stageFrom(int64_t slot, int64_t from) {
    stagedFromShare = perReplica(from, plan.count[from] - 1);
    for (int64_t other : slotsOf[from])
      add(gpuOf(other), (other == slot ? 0.0 : stagedFromShare) - share[from]);
    fromLoads.clear();
    for (int64_t gpu : touched)
      fromLoads.push_back({gpuLoad[gpu] + delta[gpu], gpu});
    std::sort(fromLoads.begin(), fromLoads.end(),
              [](const auto &a, const auto &b) { return a.first > b.first; });
  }

  /// The GPUs `to` changes (beyond the staged part) and by how much, in
  /// toGpus/toChange; marks them in toMark.
  void collectTo(int64_t slot, int64_t to) {
    stagedToShare = perReplica(to, plan.count[to] + 1);
    ++stamp;
    toGpus.clear();
    auto change = [&](int64_t gpu, double amount) {
      if (toMark[gpu] != stamp) {
        toMark[gpu] = stamp;
        toChange[gpu] = 0.0;
        toGpus.push_back(gpu);
      }
      toChange[gpu] += amount;
    };
    change(gpuOf(slot), stagedToShare);
    for (int64_t other : slotsOf[to])
      change(gpuOf(other), stagedToShare - share[to]);
  }

  /// After stageFrom and collectTo: the largest new load among the changed
  /// GPUs, and how many changed GPUs end at or above `limit`.
  std::pair<double, int64_t> changedPeak(double limit) const {
    double peak = 0;
    int64_t over = 0;
    for (int64_t gpu : toGpus) {
      double load = gpuLoad[gpu] + delta[gpu] + toChange[gpu];
      peak = std::max(peak, load);
      over += load >= limit;
    }
    bool first = true;
    for (const auto &[load, gpu] : fromLoads) {
      if (toMark[gpu] == stamp)
        continue;
      if (first)
        peak = std::max(peak, load);
      first = false;
      if (load < limit)
        break;
      ++over;
    }
    return {peak, over};
  }

  void unstage() {
    for (int64_t gpu : touched) {
      delta[gpu] = 0.0;
      isTouched[gpu] = false;
    }
    touched.clear();
  }

  bool validTarget(int64_t slot, int64_t from, int64_t to) const {
    return to != from &&
           !(noColocation && holds(CurrentView{*this}, gpuOf(slot), to));
  }

  void findRetarget(int64_t top, double limit, Move &best) {
    forEachRetargetSlot(top, [&](int64_t slot, int64_t from,
                                 const std::vector<int64_t> &targets) {
      stageFrom(slot, from);
      for (int64_t to : targets) {
        if (!validTarget(slot, from, to))
          continue;
        collectTo(slot, to);
        if (!isTouched[top] && toMark[top] != stamp)
          continue;
        auto [peak, over] = changedPeak(limit);
        if (over == 0 && peak < best.peak)
          best = {/*isSwap=*/false, slot, to, peak};
      }
      unstage();
    });
  }

  /// When no single move helps: a retarget after which exactly one GPU is
  /// at or above the limit, followed by a swap that brings it below. (New
  /// replica counts usually need a different packing.) Swaps are searched
  /// for the retargets that leave the smallest excess over the limit.
  bool retargetThenSwap(int64_t top, double limit) {
    constexpr size_t kMaxSwapSearches = 32;
    std::vector<int64_t> atTop;
    for (int64_t gpu = 0; gpu < numGpus; ++gpu)
      if (gpuLoad[gpu] >= limit)
        atTop.push_back(gpu);
    struct Candidate {
      double excess;
      int64_t slot, to;
    };
    std::vector<Candidate> candidates;
    forEachRetargetSlot(top, [&](int64_t slot, int64_t from,
                                 const std::vector<int64_t> &targets) {
      stageFrom(slot, from);
      for (int64_t to : targets) {
        if (!validTarget(slot, from, to))
          continue;
        collectTo(slot, to);
        if (!isTouched[top] && toMark[top] != stamp)
          continue;
        auto [peak, over] = changedPeak(limit);
        for (int64_t gpu : atTop)
          over += !isTouched[gpu] && toMark[gpu] != stamp;
        if (over == 1)
          candidates.push_back(
              {std::max(peak, gpuLoad[top]) - limit, slot, to});
      }
      unstage();
    });
    size_t searches = std::min(candidates.size(), kMaxSwapSearches);
    std::partial_sort(
        candidates.begin(), candidates.begin() + searches, candidates.end(),
        [](const auto &a, const auto &b) { return a.excess < b.excess; });
    Move bestRetarget, bestSwap;
    for (size_t i = 0; i < searches; ++i) {
      const Candidate &candidate = candidates[i];
      int64_t from = expertAt(candidate.slot);
      stageFrom(candidate.slot, from);
      collectTo(candidate.slot, candidate.to);
      for (int64_t gpu : toGpus)
        add(gpu, toChange[gpu]);
      int64_t overGpu = -1;
      for (int64_t gpu = 0; gpu < numGpus && overGpu < 0; ++gpu)
        if (gpuLoad[gpu] + delta[gpu] >= limit)
          overGpu = gpu;
      Move retarget{/*isSwap=*/false, candidate.slot, candidate.to, 0.0};
      Move swap;
      swap.peak = bestSwap.peak;
      findSwap(RetargetView{*this, retarget, from}, overGpu, limit, swap);
      if (swap.slot >= 0) {
        bestRetarget = retarget;
        bestSwap = swap;
      }
      unstage();
    }
    if (bestRetarget.slot < 0)
      return false;
    apply(bestRetarget);
    apply(bestSwap);
    return true;
  }

  void apply(const Move &move) {
    auto replaceSlot = [&](int64_t expert, int64_t from, int64_t to) {
      std::vector<int64_t> &slots = slotsOf[expert];
      std::replace(slots.begin(), slots.end(), from, to);
      std::sort(slots.begin(), slots.end());
    };
    int64_t expert = expertAt(move.slot);
    if (move.isSwap) {
      int64_t otherExpert = expertAt(move.other);
      replaceSlot(expert, move.slot, move.other);
      replaceSlot(otherExpert, move.other, move.slot);
      std::swap(plan.slotExpert[firstSlot + move.slot],
                plan.slotExpert[firstSlot + move.other]);
    } else {
      int64_t to = move.other;
      auto &from = slotsOf[expert];
      from.erase(std::find(from.begin(), from.end(), move.slot));
      auto &into = slotsOf[to];
      into.insert(std::upper_bound(into.begin(), into.end(), move.slot),
                  move.slot);
      plan.slotExpert[firstSlot + move.slot] = to;
      --plan.count[expert];
      ++plan.count[to];
      share[expert] = perReplica(expert, plan.count[expert]);
      share[to] = perReplica(to, plan.count[to]);
    }
    // Sums from scratch, so that rounding cannot accumulate over moves.
    recomputeLoads();
  }

  std::span<const float> loads;
  bool noColocation;
  LayerPlan &plan;
  int64_t perGpu, numGpus, numSlots, firstSlot;
  std::vector<int64_t> experts;
  std::vector<std::vector<int64_t>> slotsOf; // local slots, ascending
  std::vector<double> share;                 // load per replica
  std::vector<double> gpuLoad;
  // The staged retarget.
  std::vector<double> delta;
  std::vector<bool> isTouched;
  std::vector<int64_t> touched;
  std::vector<std::pair<double, int64_t>> fromLoads; // (new load, GPU)
  std::vector<int64_t> toGpus;
  std::vector<double> toChange;
  std::vector<int64_t> toMark;
  int64_t stamp = 0;
  double stagedFromShare = 0, stagedToShare = 0;
};

double refineDomain(const Layout &layout, std::span<const float> loads,
                    bool noColocation, LayerPlan &plan, int64_t domain) {
  DomainRefiner refiner(layout, loads, noColocation, plan, domain);
  refiner.run();
  return refiner.maxLoad();
}

} // namespace

void detail::refineLayer(const Layout &layout, std::span<const float> loads,
                         bool noColocation, LayerPlan &plan, Workspace &ws) {
  std::vector<double> domainMax(layout.domains);
  for (int64_t domain = 0; domain < layout.domains; ++domain)
    domainMax[domain] = refineDomain(layout, loads, noColocation, plan, domain);
  if (layout.domains < 2)
    return;

  // Group exchanges between the most loaded node and each other node.
  const int64_t perDomain = layout.groupsPerDomain();
  const double gpusPerDomain = static_cast<double>(layout.gpusPerDomain());
  const int64_t groupSize = layout.groupSize();
  std::vector<double> groupLoad(layout.groups, 0.0);
  for (int64_t expert = 0; expert < layout.experts; ++expert)
    groupLoad[expert / groupSize] += loads[expert];
  std::vector<double> domainLoad(layout.domains);
  auto sumDomainLoads = [&] {
    for (int64_t domain = 0; domain < layout.domains; ++domain) {
      domainLoad[domain] = 0;
      for (int64_t group : plan.domainGroups[domain])
        domainLoad[domain] += groupLoad[group];
    }
  };
  sumDomainLoads();
  const int64_t maxRounds = 4 * layout.groups;
  LayerPlan trial;
  for (int64_t round = 0; round < maxRounds; ++round) {
    int64_t top = std::max_element(domainMax.begin(), domainMax.end()) -
                  domainMax.begin();
    double limit = domainMax[top] * (1 - kRelativeTolerance);
    LayerPlan best;
    double bestPeak = std::numeric_limits<double>::infinity();
    double bestTop = 0, bestOther = 0;
    int64_t bestDomain = -1;
    for (int64_t other = 0; other < layout.domains; ++other) {
      if (other == top)
        continue;
      for (int64_t i = 0; i < perDomain; ++i) {
        for (int64_t j = 0; j < perDomain; ++j) {
          // A node's GPUs cannot all be below its mean load: skip exchanges
          // that leave either node's mean at or above the limit.
          double moved = groupLoad[plan.domainGroups[top][i]] -
                         groupLoad[plan.domainGroups[other][j]];
          if ((domainLoad[top] - moved) / gpusPerDomain >= limit ||
              (domainLoad[other] + moved) / gpusPerDomain >= limit)
            continue;
          trial = plan;
          std::swap(trial.domainGroups[top][i], trial.domainGroups[other][j]);
          solveDomain(layout, loads, top, noColocation, trial, ws);
          solveDomain(layout, loads, other, noColocation, trial, ws);
          double topMax = refineDomain(layout, loads, noColocation, trial, top);
          double otherMax =
              refineDomain(layout, loads, noColocation, trial, other);
          double peak = std::max(topMax, otherMax);
          if (peak < limit && peak < bestPeak) {
            best = trial;
            bestPeak = peak;
            bestTop = topMax;
            bestOther = otherMax;
            bestDomain = other;
          }
        }
      }
    }
    if (bestDomain < 0)
      return;
    plan = std::move(best);
    domainMax[top] = bestTop;
    domainMax[bestDomain] = bestOther;
    sumDomainLoads();
  }
}
