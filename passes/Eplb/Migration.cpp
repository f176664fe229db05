//===- Migration.cpp - Keep replicas where they already are ---------------===//
//
// A placement's GPU loads do not change when GPUs are relabelled (for the
// hierarchical strategy: nodes relabelled, and GPUs within a node) or when a
// GPU's slots are reordered. min-migration picks the relabelling that keeps
// the most replicas on the GPU that already holds their expert (a maximum-
// weight matching between new and old GPUs, two-level for nodes), then puts
// each kept replica back into its old slot.
//
//===----------------------------------------------------------------------===//

#include "passes/Eplb/Internal.h"

#include <algorithm>
#include <cassert>
#include <limits>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::detail;

std::vector<int64_t> detail::maxWeightMatching(std::span<const int64_t> weights,
                                               int64_t n) {
  assert(weights.size() == static_cast<size_t>(n * n));
  // Hungarian algorithm (shortest augmenting paths with potentials) on the
  // costs -weight; rows and columns are 1-based, column 0 is the root.
  const int64_t infinity = std::numeric_limits<int64_t>::max() / 4;
  std::vector<int64_t> rowPotential(n + 1, 0), columnPotential(n + 1, 0);
  std::vector<int64_t> rowOfColumn(n + 1, 0), previousColumn(n + 1, 0);
  auto cost = [&](int64_t row, int64_t column) {
    return -weights[(row - 1) * n + (column - 1)];
  };
  for (int64_t row = 1; row <= n; ++row) {
    rowOfColumn[0] = row;
    int64_t column = 0;
    std::vector<int64_t> slack(n + 1, infinity);
    std::vector<bool> visited(n + 1, false);
    do {
      visited[column] = true;
      int64_t current = rowOfColumn[column];
      int64_t step = infinity, next = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (visited[j])
          continue;
        int64_t reduced =
            cost(current, j) - rowPotential[current] - columnPotential[j];
        if (reduced < slack[j]) {
          slack[j] = reduced;
          previousColumn[j] = column;
        }
        if (slack[j] < step) {
          step = slack[j];
          next = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (visited[j]) {
          rowPotential[rowOfColumn[j]] += step;
          columnPotential[j] -= step;
        } else {
          slack[j] -= step;
        }
      }
      column = next;
    } while (rowOfColumn[column] != 0);
    do {
      int64_t before = previousColumn[column];
      rowOfColumn[column] = rowOfColumn[before];
      column = before;
    } while (column != 0);
  }
  std::vector<int64_t> columnOfRow(n, -1);
  for (int64_t column = 1; column <= n; ++column)
    columnOfRow[rowOfColumn[column] - 1] = column - 1;
  return columnOfRow;
}

/// Size of the multiset intersection of two sorted lists.
static int64_t commonCount(std::span<const int64_t> a,
                           std::span<const int64_t> b) {
  int64_t common = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common;
      ++i;
      ++j;
    }
  }
  return common;
}

void detail::minimizeMigration(const Layout &layout,
                               std::span<const int64_t> previous,
                               LayerPlan &plan) {
  const int64_t numGpus = layout.gpus;
  const int64_t perGpu = layout.slotsPerGpu();
  auto sortedGpus = [&](std::span<const int64_t> slots) {
    std::vector<int64_t> sorted(slots.begin(), slots.end());
    for (int64_t gpu = 0; gpu < numGpus; ++gpu)
      std::sort(sorted.begin() + gpu * perGpu,
                sorted.begin() + (gpu + 1) * perGpu);
    return sorted;
  };
  std::vector<int64_t> now = sortedGpus(plan.slotExpert);
  std::vector<int64_t> before = sortedGpus(previous);
  auto kept = [&](int64_t newGpu, int64_t oldGpu) {
    return commonCount(
        std::span<const int64_t>(now).subspan(newGpu * perGpu, perGpu),
        std::span<const int64_t>(before).subspan(oldGpu * perGpu, perGpu));
  };

  // oldGpuOf[new GPU]: where its replicas go.
  std::vector<int64_t> oldGpuOf(numGpus);
  const int64_t domains = layout.domains, perDomain = layout.gpusPerDomain();
  std::vector<int64_t> domainValue(domains * domains);
  std::vector<std::vector<int64_t>> within(domains * domains);
  std::vector<int64_t> sub(perDomain * perDomain);
  for (int64_t a = 0; a < domains; ++a) {
    for (int64_t b = 0; b < domains; ++b) {
      for (int64_t i = 0; i < perDomain; ++i)
        for (int64_t j = 0; j < perDomain; ++j)
          sub[i * perDomain + j] = kept(a * perDomain + i, b * perDomain + j);
      std::vector<int64_t> match = maxWeightMatching(sub, perDomain);
      int64_t value = 0;
      for (int64_t i = 0; i < perDomain; ++i)
        value += sub[i * perDomain + match[i]];
      domainValue[a * domains + b] = value;
      within[a * domains + b] = std::move(match);
    }
  }
  std::vector<int64_t> oldDomainOf = maxWeightMatching(domainValue, domains);
  for (int64_t a = 0; a < domains; ++a) {
    int64_t b = oldDomainOf[a];
    const std::vector<int64_t> &match = within[a * domains + b];
    for (int64_t i = 0; i < perDomain; ++i)
      oldGpuOf[a * perDomain + i] = b * perDomain + match[i];
  }

  std::vector<int64_t> slots(layout.replicas, -1);
  std::vector<bool> placed(perGpu);
  for (int64_t gpu = 0; gpu < numGpus; ++gpu) {
    int64_t target = oldGpuOf[gpu];
    const int64_t *mine = &plan.slotExpert[gpu * perGpu];
    int64_t *into = &slots[target * perGpu];
    std::fill(placed.begin(), placed.end(), false);
    // Replicas whose expert the target GPU already holds keep that slot.
    for (int64_t r = 0; r < perGpu; ++r) {
      int64_t expert = previous[target * perGpu + r];
      for (int64_t k = 0; k < perGpu; ++k) {
        if (!placed[k] && mine[k] == expert) {
          placed[k] = true;
          into[r] = expert;
          break;
        }
      }
    }
    // The rest fill the remaining slots in their current order.
    int64_t free = 0;
    for (int64_t k = 0; k < perGpu; ++k) {
      if (placed[k])
        continue;
      while (into[free] >= 0)
        ++free;
      into[free] = mine[k];
    }
  }
  plan.slotExpert = std::move(slots);

  std::vector<std::vector<int64_t>> groups(domains);
  for (int64_t a = 0; a < domains; ++a)
    groups[oldDomainOf[a]] = std::move(plan.domainGroups[a]);
  plan.domainGroups = std::move(groups);
}
