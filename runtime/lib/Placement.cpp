//===- Placement.cpp - Which GPU a CUDA rank uses, and how ranks talk -----===//

#include "Placement.h"

#include <algorithm>
#include <map>
#include <utility>

namespace pwrt {

std::string encodePlacement(const RankPlacement &placement) {
  return fmt::format("{}\n{}\n{}", placement.device, placement.deviceId,
                     placement.host);
}

std::optional<RankPlacement> decodePlacement(const std::string &text) {
  size_t first = text.find('\n');
  size_t second =
      first == std::string::npos ? first : text.find('\n', first + 1);
  if (second == std::string::npos)
    return std::nullopt;
  RankPlacement placement;
  try {
    placement.device = std::stoi(text.substr(0, first));
  } catch (...) {
    return std::nullopt;
  }
  placement.deviceId = text.substr(first + 1, second - first - 1);
  placement.host = text.substr(second + 1);
  return placement;
}

int deviceForLocalRank(int localRank, int deviceCount) {
  return deviceCount > 0 ? localRank % deviceCount : -1;
}

std::string summarizeRankProblems(const std::vector<std::string> &problems) {
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (int rank = 0; rank < int(problems.size()); ++rank) {
    const std::string &problem = problems[size_t(rank)];
    if (problem.empty())
      continue;
    auto found = std::find_if(groups.begin(), groups.end(), [&](const auto &g) {
      return g.first == problem;
    });
    if (found == groups.end())
      groups.push_back({problem, {rank}});
    else
      found->second.push_back(rank);
  }
  std::string text;
  for (const auto &[problem, ranks] : groups) {
    std::string who;
    if (ranks.size() == problems.size() && ranks.size() > 1)
      who = "every rank";
    else if (ranks.size() == 1)
      who = fmt::format("rank {}", ranks.front());
    else
      for (int rank : ranks)
        who += fmt::format("{}{}", who.empty() ? "ranks " : ", ", rank);
    text += fmt::format("{}{}: {}", text.empty() ? "" : "; ", who, problem);
  }
  return text;
}

TransportPlan planTransport(const std::vector<RankPlacement> &placements,
                            bool singleProcess, TransportChoice choice) {
  TransportPlan plan;
  // The first two ranks on one GPU, if any.
  std::map<std::pair<std::string, std::string>, int> owner;
  int first = -1, second = -1;
  for (int rank = 0; rank < int(placements.size()) && first < 0; ++rank) {
    const RankPlacement &p = placements[size_t(rank)];
    auto [it, inserted] =
        owner.emplace(std::make_pair(p.host, p.deviceId), rank);
    if (!inserted) {
      first = it->second;
      second = rank;
    }
  }
  std::string shared;
  if (first >= 0) {
    const RankPlacement &p = placements[size_t(second)];
    shared = fmt::format("ranks {} and {} both use GPU {} (device {}) on {}",
                         first, second, p.deviceId, p.device, p.host);
  }

  if (choice == TransportChoice::Local) {
    if (!singleProcess) {
      plan.error = Error(PWRT_ERROR_UNSUPPORTED,
                         "PW_CUDA_TRANSPORT=local needs every rank in one "
                         "process (pwrt_cuda_contexts_create); this job has "
                         "one process per rank");
      return plan;
    }
    plan.nccl = false;
    plan.note = "PW_CUDA_TRANSPORT=local";
    return plan;
  }
  if (first < 0)
    return plan; // every rank has a GPU of its own: NCCL
  if (choice == TransportChoice::Nccl) {
    plan.error = makeError(PWRT_ERROR_UNSUPPORTED,
                           "PW_CUDA_TRANSPORT=nccl, but {}: NCCL cannot put "
                           "two ranks of one communicator on one GPU",
                           shared);
    return plan;
  }
  if (singleProcess) {
    plan.nccl = false;
    plan.note = shared + ": NCCL cannot put two ranks of one communicator "
                         "on one GPU, so the ranks copy to each other";
    return plan;
  }
  plan.error = makeError(
      PWRT_ERROR_UNSUPPORTED,
      "{}: NCCL cannot put two ranks of one communicator on one GPU. Start "
      "at most one process per GPU of each node, or run every rank in one "
      "process (pwrt_cuda_contexts_create), where ranks that share a GPU "
      "copy to each other directly",
      shared);
  return plan;
}

} // namespace pwrt
