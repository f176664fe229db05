//===- Eplb.cpp - Policies, input checks, solve and metrics ---------------===//

#include "passes/Eplb/Eplb.h"
#include "passes/Eplb/Internal.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <sstream>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::detail;

//===----------------------------------------------------------------------===//
// Policies
//===----------------------------------------------------------------------===//

namespace {
constexpr std::string_view kReference = "reference";
constexpr std::string_view kHierarchical = "hierarchical";
constexpr std::string_view kGlobal = "global";
constexpr std::string_view kRefine = "refine";
constexpr std::string_view kNoColocated = "no-colocated-replicas";
constexpr std::string_view kMinMigration = "min-migration";

template <typename... Parts> std::string cat(const Parts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
} // namespace

std::string_view pipeweave::eplb::policyNameList() {
  return "reference, hierarchical, global, refine, no-colocated-replicas, "
         "min-migration";
}

std::optional<PolicyOptions> pipeweave::eplb::parsePolicy(std::string_view text,
                                                          std::string &error) {
  PolicyOptions options;
  bool strategySet = false, refineSet = false, colocationSet = false,
       migrationSet = false;
  auto once = [&](bool &seen, std::string_view name) {
    if (seen) {
      error = cat("policy '", name, "' is given twice");
      return false;
    }
    seen = true;
    return true;
  };
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view name = text.substr(
        start, comma == std::string_view::npos ? comma : comma - start);
    while (!name.empty() && name.front() == ' ')
      name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ')
      name.remove_suffix(1);
    if (name == kReference || name == kHierarchical || name == kGlobal) {
      if (strategySet) {
        error = "give at most one of reference, hierarchical and global";
        return std::nullopt;
      }
      strategySet = true;
      options.strategy = name == kReference      ? Strategy::Auto
                         : name == kHierarchical ? Strategy::Hierarchical
                                                 : Strategy::Global;
    } else if (name == kRefine) {
      if (!once(refineSet, name))
        return std::nullopt;
      options.refine = true;
    } else if (name == kNoColocated) {
      if (!once(colocationSet, name))
        return std::nullopt;
      options.noColocatedReplicas = true;
    } else if (name == kMinMigration) {
      if (!once(migrationSet, name))
        return std::nullopt;
      options.minMigration = true;
    } else {
      error = cat("unknown policy '", name,
                  "'; expected a comma-separated list of: ", policyNameList());
      return std::nullopt;
    }
    if (comma == std::string_view::npos)
      return options;
    start = comma + 1;
  }
}

std::string pipeweave::eplb::formatPolicy(const PolicyOptions &options) {
  std::string text(options.strategy == Strategy::Auto           ? kReference
                   : options.strategy == Strategy::Hierarchical ? kHierarchical
                                                                : kGlobal);
  for (auto [set, name] : {std::pair{options.refine, kRefine},
                           std::pair{options.noColocatedReplicas, kNoColocated},
                           std::pair{options.minMigration, kMinMigration}})
    if (set)
      text += cat(",", name);
  return text;
}

bool pipeweave::eplb::usesHierarchical(const EplbProblem &problem,
                                       Strategy strategy) {
  switch (strategy) {
  case Strategy::Auto:
    return problem.numNodes > 0 && problem.numGroups % problem.numNodes == 0;
  case Strategy::Hierarchical:
    return true;
  case Strategy::Global:
    return false;
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Input checks
//===----------------------------------------------------------------------===//

const FieldNames pipeweave::eplb::kReferenceFieldNames = {
    /*loads=*/"weight",      /*layers=*/"weight",
    /*experts=*/"weight",    /*replicas=*/"num_replicas",
    /*groups=*/"num_groups", /*nodes=*/"num_nodes",
    /*gpus=*/"num_gpus"};

std::optional<InputError>
pipeweave::eplb::checkShape(const EplbProblem &p, const PolicyOptions &options,
                            const FieldNames &names) {
  auto error = [](std::string_view field, std::string message) {
    return InputError{std::string(field), std::move(message)};
  };
  // Bounds that keep every index in int64 and the outputs allocatable.
  constexpr int64_t kMaxSize = int64_t(1) << 24;
  struct Size {
    std::string_view field;
    int64_t value;
    const char *what;
  };
  for (auto [field, value, what] :
       {Size{names.layers, p.numLayers, "layers"},
        Size{names.experts, p.numExperts, "experts"},
        Size{names.replicas, p.numReplicas, "replicas"},
        Size{names.groups, p.numGroups, "groups"},
        Size{names.nodes, p.numNodes, "nodes"},
        Size{names.gpus, p.numGpus, "gpus"}}) {
    if (value < 1)
      return error(field, cat(field, ": the number of ", what,
                              " must be at least 1 (got ", value, ")"));
    if (value > kMaxSize)
      return error(field,
                   cat(field, ": the number of ", what, " must be at most ",
                       kMaxSize, " (got ", value, ")"));
  }
  if (p.numReplicas % p.numGpus != 0)
    return error(names.replicas, cat(names.replicas, " (", p.numReplicas,
                                     ") must be a multiple of ", names.gpus,
                                     " (", p.numGpus, ")"));
  if (p.numReplicas < p.numExperts)
    return error(names.replicas,
                 cat(names.replicas, " (", p.numReplicas,
                     ") must be at least the number of experts (", p.numExperts,
                     ")"));
  // log2phy has layers x experts x (most replicas of one expert) entries.
  const int64_t mostReplicas = p.numReplicas - p.numExperts + 1;
  if (static_cast<double>(p.numLayers) * p.numExperts * mostReplicas >
      static_cast<double>(int64_t(1) << 27))
    return error(names.replicas,
                 cat(names.replicas, ": ", p.numLayers, " layers x ",
                     p.numExperts, " experts x up to ", mostReplicas,
                     " replicas each is too large a placement"));

  bool hierarchical = usesHierarchical(p, options.strategy);
  if (hierarchical) {
    if (p.numGroups % p.numNodes != 0)
      return error(names.groups,
                   cat(names.groups, " (", p.numGroups,
                       ") must be a multiple of ", names.nodes, " (",
                       p.numNodes, ") for the hierarchical policy"));
    if (p.numExperts % p.numGroups != 0)
      return error(names.groups, cat(names.groups, " (", p.numGroups,
                                     ") must divide the number of experts (",
                                     p.numExperts, ")"));
    if (p.numGpus % p.numNodes != 0)
      return error(names.gpus,
                   cat(names.gpus, " (", p.numGpus, ") must be a multiple of ",
                       names.nodes, " (", p.numNodes, ")"));
  }
  if (options.noColocatedReplicas) {
    int64_t experts = hierarchical ? p.numExperts / p.numNodes : p.numExperts;
    int64_t perGpu = p.numReplicas / p.numGpus;
    if (perGpu > experts)
      return error(
          names.replicas,
          cat(names.replicas, " (", p.numReplicas, ") puts ", perGpu,
              " slots on each GPU, but no-colocated-replicas can fill at "
              "most ",
              experts,
              hierarchical && p.numNodes > 1 ? " (the experts of one node)"
                                             : "",
              " without two replicas of one expert on a GPU"));
  }
  return std::nullopt;
}

std::optional<InputError>
pipeweave::eplb::checkProblem(const EplbProblem &p,
                              const PolicyOptions &options,
                              const FieldNames &names) {
  if (std::optional<InputError> shape = checkShape(p, options, names))
    return shape;
  if (p.loads.size() != static_cast<size_t>(p.numLayers * p.numExperts))
    return InputError{std::string(names.loads),
                      cat(names.loads, " has ", p.loads.size(),
                          " values; expected ", p.numLayers, " layers x ",
                          p.numExperts, " experts")};
  for (int64_t layer = 0; layer < p.numLayers; ++layer) {
    for (int64_t expert = 0; expert < p.numExperts; ++expert) {
      double value = p.load(layer, expert);
      // The reference computes in float32: a load must survive that too.
      if (!std::isfinite(value) || value < 0 ||
          !std::isfinite(static_cast<float>(value)))
        return InputError{std::string(names.loads),
                          cat(names.loads, "[", layer, "][", expert,
                              "] must be a finite, non-negative load (got ",
                              value, ")")};
    }
  }
  return std::nullopt;
}

std::optional<InputError>
pipeweave::eplb::checkPreviousPhy2Log(const EplbProblem &p,
                                      std::span<const int64_t> previous,
                                      std::string_view field) {
  if (previous.size() != static_cast<size_t>(p.numLayers * p.numReplicas))
    return InputError{std::string(field),
                      cat(field, " has ", previous.size(),
                          " entries; expected ", p.numLayers, " layers x ",
                          p.numReplicas, " slots")};
  for (size_t i = 0; i < previous.size(); ++i)
    if (previous[i] < 0 || previous[i] >= p.numExperts)
      return InputError{std::string(field),
                        cat(field, "[", i / p.numReplicas, "][",
                            i % p.numReplicas, "] must be an expert in [0, ",
                            p.numExperts, ") (got ", previous[i], ")")};
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Solve
//===----------------------------------------------------------------------===//

/// The layer's largest GPU load, as measureBalance computes it.
static double layerPeak(const Layout &layout, std::span<const float> loads,
                        const LayerPlan &plan, std::vector<double> &scratch) {
  gpuLoads(layout, loads, plan, scratch);
  return *std::max_element(scratch.begin(), scratch.end());
}

Placement pipeweave::eplb::rebalanceExperts(const EplbProblem &problem,
                                            const PolicyOptions &options,
                                            std::span<const int64_t> previous) {
  assert(!checkProblem(problem, options, kReferenceFieldNames));
  assert(!options.minMigration ||
         !checkPreviousPhy2Log(problem, previous, "previous"));
  const Layout layout = makeLayout(problem, options.strategy);
  const int64_t numLayers = problem.numLayers;
  const int64_t numExperts = problem.numExperts;
  const int64_t numReplicas = problem.numReplicas;
  // Anything beyond the reference renumbers replica ranks in slot order.
  const bool beyondReference =
      options.refine || options.noColocatedReplicas || options.minMigration;

  Placement out;
  out.numLayers = numLayers;
  out.numExperts = numExperts;
  out.numReplicas = numReplicas;
  out.hierarchical = layout.hierarchical;
  out.phy2log.resize(numLayers * numReplicas);
  out.phyRank.resize(numLayers * numReplicas);
  out.logcnt.resize(numLayers * numExperts);

  Workspace ws;
  LayerPlan plan, base;
  plan.resize(layout);
  std::vector<float> loads(numExperts);
  std::vector<double> scratch;
  for (int64_t layer = 0; layer < numLayers; ++layer) {
    for (int64_t e = 0; e < numExperts; ++e)
      loads[e] = static_cast<float>(problem.load(layer, e));
    assignGroups(layout, loads, plan, ws);
    for (int64_t domain = 0; domain < layout.domains; ++domain)
      solveDomain(layout, loads, domain, options.noColocatedReplicas, plan, ws);
    if (options.refine) {
      base = plan;
      refineLayer(layout, loads, options.noColocatedReplicas, plan, ws);
      // The guarantee, checked with the same arithmetic as the metrics; a
      // layer whose maximum does not drop keeps the base placement, so that
      // refine moves nothing it cannot pay for.
      if (layerPeak(layout, loads, plan, scratch) >=
          layerPeak(layout, loads, base, scratch))
        plan = base;
    }
    if (options.minMigration)
      minimizeMigration(
          layout, previous.subspan(layer * numReplicas, numReplicas), plan);
    if (beyondReference) {
      std::vector<int64_t> &seen = ws.seen;
      seen.assign(numExperts, 0);
      for (int64_t slot = 0; slot < numReplicas; ++slot)
        plan.slotRank[slot] = seen[plan.slotExpert[slot]]++;
    }
    std::copy(plan.slotExpert.begin(), plan.slotExpert.end(),
              out.phy2log.begin() + layer * numReplicas);
    std::copy(plan.slotRank.begin(), plan.slotRank.end(),
              out.phyRank.begin() + layer * numReplicas);
    std::copy(plan.count.begin(), plan.count.end(),
              out.logcnt.begin() + layer * numExperts);
  }

  out.maxReplicas = *std::max_element(out.logcnt.begin(), out.logcnt.end());
  out.log2phy.assign(numLayers * numExperts * out.maxReplicas, -1);
  for (int64_t layer = 0; layer < numLayers; ++layer) {
    for (int64_t slot = 0; slot < numReplicas; ++slot) {
      int64_t index = layer * numReplicas + slot;
      out.log2phy[(layer * numExperts + out.phy2log[index]) * out.maxReplicas +
                  out.phyRank[index]] = slot;
    }
  }
  return out;
}

std::optional<std::string>
pipeweave::eplb::checkPlacement(const EplbProblem &problem,
                                const Placement &placement) {
  const int64_t layers = problem.numLayers, experts = problem.numExperts,
                slots = problem.numReplicas;
  const Placement &p = placement;
  if (p.numLayers != layers || p.numExperts != experts ||
      p.numReplicas != slots)
    return "placement dimensions differ from the problem's";
  if (p.phy2log.size() != static_cast<size_t>(layers * slots) ||
      p.logcnt.size() != static_cast<size_t>(layers * experts) ||
      p.log2phy.size() != static_cast<size_t>(layers * experts * p.maxReplicas))
    return "placement arrays have the wrong sizes";
  int64_t mostReplicas = 0;
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<int64_t> counted(experts, 0);
    for (int64_t slot = 0; slot < slots; ++slot) {
      int64_t expert = p.expertAt(layer, slot);
      if (expert < 0 || expert >= experts)
        return cat("layer ", layer, " slot ", slot, " holds expert ", expert,
                   ", out of range");
      ++counted[expert];
    }
    for (int64_t expert = 0; expert < experts; ++expert) {
      int64_t count = p.logcnt[layer * experts + expert];
      if (count < 1)
        return cat("layer ", layer, " expert ", expert, " has no replica");
      if (count != counted[expert])
        return cat("layer ", layer, " expert ", expert, ": logcnt ", count,
                   " but ", counted[expert], " slots in phy2log");
      mostReplicas = std::max(mostReplicas, count);
      const int64_t *row =
          &p.log2phy[(layer * experts + expert) * p.maxReplicas];
      for (int64_t rank = 0; rank < p.maxReplicas; ++rank) {
        int64_t slot = row[rank];
        if (rank >= count) {
          if (slot != -1)
            return cat("layer ", layer, " expert ", expert, ": log2phy rank ",
                       rank, " should be -1 (got ", slot, ")");
          continue;
        }
        if (slot < 0 || slot >= slots || p.expertAt(layer, slot) != expert)
          return cat("layer ", layer, " expert ", expert, ": log2phy rank ",
                     rank, " names slot ", slot, ", which is not its replica");
        for (int64_t earlier = 0; earlier < rank; ++earlier)
          if (row[earlier] == slot)
            return cat("layer ", layer, " expert ", expert,
                       ": log2phy lists slot ", slot, " twice");
      }
    }
  }
  if (mostReplicas != p.maxReplicas)
    return cat("log2phy's last dimension is ", p.maxReplicas,
               " but the most replicas of one expert is ", mostReplicas);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Metrics
//===----------------------------------------------------------------------===//

/// The smallest possible largest load per replica when `slots` replicas are
/// shared among experts with `loads` (each at least one): giving each next
/// replica to the expert with the largest load per replica is optimal.
static double smallestPeakReplicaLoad(std::span<const float> loads,
                                      int64_t slots) {
  std::vector<std::pair<double, int64_t>> heap; // (load per replica, count)
  std::vector<double> total(loads.begin(), loads.end());
  for (size_t e = 0; e < loads.size(); ++e)
    heap.push_back({loads[e], static_cast<int64_t>(e)});
  std::vector<int64_t> count(loads.size(), 1);
  std::make_heap(heap.begin(), heap.end());
  for (int64_t extra = loads.size(); extra < slots; ++extra) {
    std::pop_heap(heap.begin(), heap.end());
    int64_t expert = heap.back().second;
    heap.back().first = total[expert] / ++count[expert];
    std::push_heap(heap.begin(), heap.end());
  }
  return heap.front().first;
}

std::vector<LayerBalance>
pipeweave::eplb::measureBalance(const EplbProblem &problem,
                                const Placement &placement) {
  Layout layout = makeLayout(problem, Strategy::Global);
  std::vector<LayerBalance> balance(problem.numLayers);
  std::vector<float> loads(problem.numExperts);
  LayerPlan plan;
  std::vector<double> gpu;
  for (int64_t layer = 0; layer < problem.numLayers; ++layer) {
    for (int64_t e = 0; e < problem.numExperts; ++e)
      loads[e] = static_cast<float>(problem.load(layer, e));
    plan.slotExpert.assign(
        placement.phy2log.begin() + layer * problem.numReplicas,
        placement.phy2log.begin() + (layer + 1) * problem.numReplicas);
    plan.count.assign(placement.logcnt.begin() + layer * problem.numExperts,
                      placement.logcnt.begin() +
                          (layer + 1) * problem.numExperts);
    gpuLoads(layout, loads, plan, gpu);
    LayerBalance &b = balance[layer];
    b.maxGpuLoad = *std::max_element(gpu.begin(), gpu.end());
    double total = 0;
    for (double load : gpu)
      total += load;
    b.meanGpuLoad = total / problem.numGpus;
    b.balancedness = b.maxGpuLoad > 0 ? b.meanGpuLoad / b.maxGpuLoad : 1.0;
    b.lowerBound = std::max(
        b.meanGpuLoad, smallestPeakReplicaLoad(loads, problem.numReplicas));
    b.gapToBound = b.lowerBound > 0 ? b.maxGpuLoad / b.lowerBound - 1 : 0.0;
  }
  return balance;
}

std::vector<int64_t>
pipeweave::eplb::countMovedSlots(std::span<const int64_t> previous,
                                 const Placement &next) {
  std::vector<int64_t> moved(next.numLayers, 0);
  for (int64_t layer = 0; layer < next.numLayers; ++layer)
    for (int64_t slot = 0; slot < next.numReplicas; ++slot)
      moved[layer] += previous[layer * next.numReplicas + slot] !=
                      next.expertAt(layer, slot);
  return moved;
}
