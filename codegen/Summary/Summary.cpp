//===- Summary.cpp - human-readable schedule summary ----------------------===//

#include "codegen/Summary/Summary.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <sstream>

using namespace pipeweave::schedule;

namespace {
struct RankCounts {
  std::set<int> stages;
  // Indexed by ActionKind.
  std::array<int, 7> byKind{};
  int64_t bytesSent = 0;
};
} // namespace

static RankCounts countRank(const std::vector<Action> &actions) {
  RankCounts counts;
  for (const Action &action : actions) {
    ++counts.byKind[static_cast<int>(action.kind)];
    if (action.isCompute())
      counts.stages.insert(action.stage);
    if (action.kind == ActionKind::OverlapFB)
      counts.stages.insert(action.stage2);
    if (action.kind == ActionKind::Send)
      counts.bytesSent += action.bytes;
  }
  return counts;
}

static std::string joinStages(const std::set<int> &stages) {
  std::string text;
  for (int stage : stages)
    text += (text.empty() ? "" : ",") + std::to_string(stage);
  return text.empty() ? "-" : text;
}

std::string pipeweave::formatSummary(const Schedule &s, int width) {
  std::ostringstream out;
  out << "@" << (s.name.empty() ? "schedule" : s.name) << ": " << s.kind
      << " schedule, " << s.numRanks << " ranks, " << s.numStages << " stages, "
      << s.numMicrobatches << " micro-batches";
  if (s.numDirections > 1)
    out << " (" << s.microbatchesPerStage() << " in each of " << s.numDirections
        << " directions)";
  out << "\n\n";

  auto count = [](const RankCounts &c, ActionKind kind) {
    return c.byKind[static_cast<int>(kind)];
  };
  char line[160];
  std::snprintf(line, sizeof(line),
                "%6s  %-8s %5s %5s %5s %5s %5s %6s %6s %12s\n", "rank",
                "stages", "F", "I", "W", "B", "F&B", "sends", "recvs",
                "bytes sent");
  out << line;
  for (int rank = 0; rank < s.numRanks; ++rank) {
    RankCounts c = countRank(s.ranks[rank]);
    std::snprintf(
        line, sizeof(line), "%6d  %-8s %5d %5d %5d %5d %5d %6d %6d %12lld\n",
        rank, joinStages(c.stages).c_str(), count(c, ActionKind::Forward),
        count(c, ActionKind::BackwardInput),
        count(c, ActionKind::BackwardWeight), count(c, ActionKind::Backward),
        count(c, ActionKind::OverlapFB), count(c, ActionKind::Send),
        count(c, ActionKind::Recv), static_cast<long long>(c.bytesSent));
    out << line;
  }

  out << "\ncompute order per rank (sends and receives omitted):\n";
  for (int rank = 0; rank < s.numRanks; ++rank) {
    std::string prefix = "  rank " + std::to_string(rank) + " | ";
    std::string indent(prefix.size(), ' ');
    indent[indent.size() - 2] = '|';
    std::string current = prefix;
    bool empty = true;
    for (const Action &action : s.ranks[rank]) {
      if (!action.isCompute())
        continue;
      std::string cell = action.str();
      if (!empty &&
          static_cast<int>(current.size() + 1 + cell.size()) > width) {
        out << current << "\n";
        current = indent;
        empty = true;
      }
      current += (empty ? "" : " ") + cell;
      empty = false;
    }
    out << current << "\n";
  }
  return out.str();
}
