//===- TorchCsv.cpp - PyTorch pipelining action CSV -----------------------===//
//
// Reads and writes the CSV form of `torch.distributed.pipelining` schedules:
// one line per rank, one action per cell ("0F1", "(0F7;7B3)OVERLAP_F_B",
// "0SEND_F1", ...).
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"
#include "passes/Schedule/StrCat.h"

#include <algorithm>
#include <charconv>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;

std::string pipeweave::schedule::formatTorchCsv(const Schedule &schedule) {
  std::string text;
  for (const std::vector<Action> &actions : schedule.ranks) {
    bool first = true;
    for (const Action &action : actions) {
      if (action.isComm())
        continue;
      if (!first)
        text += ',';
      text += action.str();
      first = false;
    }
    text += '\n';
  }
  return text;
}

namespace {
/// The highest stage or micro-batch number accepted.
constexpr int maxNumber = 1000000;

/// A cell's text with its 1-based position.
struct Cell {
  std::string_view text;
  int line = 0;
  int column = 0;
};

/// A comm cell whose peer is resolved once all stages are placed.
struct PendingPeer {
  Cell cell;
  int rank = 0;
  int index = 0;
};

bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && isBlank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && isBlank(text.back()))
    text.remove_suffix(1);
  return text;
}

/// Reads a decimal number at the front of `text`, consuming it.
std::optional<int> takeNumber(std::string_view &text) {
  if (text.empty() || text.front() < '0' || text.front() > '9')
    return std::nullopt; // from_chars would accept a sign
  int value = 0;
  auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc())
    return std::nullopt;
  text.remove_prefix(end - text.data());
  return value;
}

struct TypeSpelling {
  std::string_view spelling;
  ActionKind kind;
  Payload payload;
};
constexpr TypeSpelling typeSpellings[] = {
    {"SEND_F", ActionKind::Send, Payload::Activation},
    {"RECV_F", ActionKind::Recv, Payload::Activation},
    {"SEND_B", ActionKind::Send, Payload::Gradient},
    {"RECV_B", ActionKind::Recv, Payload::Gradient},
    {"F", ActionKind::Forward, Payload::Activation},
    {"I", ActionKind::BackwardInput, Payload::Activation},
    {"W", ActionKind::BackwardWeight, Payload::Activation},
    {"B", ActionKind::Backward, Payload::Activation},
};

/// Parses "{stage}{type}{mb}"; peers of comm actions are left unset.
std::optional<Action> parseSimpleAction(std::string_view text) {
  std::optional<int> stage = takeNumber(text);
  if (!stage)
    return std::nullopt;
  for (const TypeSpelling &type : typeSpellings) {
    if (text.substr(0, type.spelling.size()) != type.spelling)
      continue;
    text.remove_prefix(type.spelling.size());
    std::optional<int> mb = takeNumber(text);
    if (!mb || !text.empty())
      return std::nullopt;
    Action action;
    action.kind = type.kind;
    action.stage = *stage;
    action.microbatch = *mb;
    action.payload = type.payload;
    return action;
  }
  return std::nullopt;
}

/// Parses "({s}F{m};{s2}B{m2})OVERLAP_F_B".
std::optional<Action> parseOverlap(std::string_view text) {
  constexpr std::string_view suffix = ")OVERLAP_F_B";
  if (text.size() < suffix.size() + 1 || text.front() != '(' ||
      text.substr(text.size() - suffix.size()) != suffix)
    return std::nullopt;
  std::string_view inner = text.substr(1, text.size() - 1 - suffix.size());
  std::size_t semicolon = inner.find(';');
  if (semicolon == std::string_view::npos)
    return std::nullopt;
  std::optional<Action> forward =
      parseSimpleAction(trimmed(inner.substr(0, semicolon)));
  std::optional<Action> backward =
      parseSimpleAction(trimmed(inner.substr(semicolon + 1)));
  if (!forward || !backward || forward->kind != ActionKind::Forward ||
      backward->kind != ActionKind::Backward)
    return std::nullopt;
  return Action::overlap(forward->stage, forward->microbatch, backward->stage,
                         backward->microbatch);
}

class CsvParser {
public:
  CsvParser(std::string_view text, int numDirections)
      : text(text), numDirections(numDirections) {}

  CsvParseResult parse() {
    CsvParseResult result;
    if (parseAll())
      result.schedule = std::move(schedule);
    else
      result.error = std::move(error);
    return result;
  }

private:
  bool parseAll() {
    if (numDirections < 1)
      return fail({{}, 0, 0}, strCat("numDirections must be >= 1 (got ",
                                     numDirections, ")"));
    std::vector<std::string_view> lines = splitLines();
    if (lines.empty())
      return fail({{}, 1, 1},
                  "empty input: expected one line of actions per rank");
    schedule.ranks.resize(lines.size());
    for (int rank = 0, e = lines.size(); rank < e; ++rank)
      if (!parseLine(rank, lines[rank]))
        return false;
    if (!highestStage)
      return fail({{}, 1, 1}, "no actions: every cell is empty");
    return finishShape() && resolvePeers();
  }

  /// Lines without their "\r\n" or "\n", trailing empty lines dropped.
  std::vector<std::string_view> splitLines() const {
    std::vector<std::string_view> lines;
    std::string_view rest = text;
    while (!rest.empty()) {
      std::size_t newline = rest.find('\n');
      std::string_view line = rest.substr(0, newline);
      if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
      lines.push_back(line);
      rest = newline == std::string_view::npos ? std::string_view()
                                               : rest.substr(newline + 1);
    }
    while (!lines.empty() && trimmed(lines.back()).empty())
      lines.pop_back();
    return lines;
  }

  bool parseLine(int rank, std::string_view line) {
    for (std::size_t start = 0;;) {
      std::size_t comma = line.find(',', start);
      std::string_view raw = line.substr(start, comma - start);
      Cell cell{trimmed(raw), rank + 1,
                static_cast<int>(start + leadingBlanks(raw)) + 1};
      // An empty cell is PyTorch's "no action" (a bubble).
      if (!cell.text.empty() && !parseCell(rank, cell))
        return false;
      if (comma == std::string_view::npos)
        return true;
      start = comma + 1;
    }
  }

  static std::size_t leadingBlanks(std::string_view text) {
    std::size_t count = 0;
    while (count < text.size() && isBlank(text[count]))
      ++count;
    return count;
  }

  bool parseCell(int rank, const Cell &cell) {
    std::optional<Action> action = cell.text.front() == '('
                                       ? parseOverlap(cell.text)
                                       : parseSimpleAction(cell.text);
    if (!action)
      return fail(cell, strCat("unrecognised action '", cell.text,
                               "'; expected e.g. 0F1, 0I1, 0W1, 0B1, "
                               "(0F1;1B0)OVERLAP_F_B"));
    if (!noteNumbers(cell, action->stage, action->microbatch))
      return false;
    if (action->kind == ActionKind::OverlapFB &&
        !noteNumbers(cell, action->stage2, action->microbatch2))
      return false;
    std::vector<Action> &actions = schedule.ranks[rank];
    if (action->isComm())
      pendingPeers.push_back({cell, rank, static_cast<int>(actions.size())});
    actions.push_back(*action);
    return true;
  }

  /// Tracks the highest stage and micro-batch; rejects absurd ones, so that
  /// a typo cannot make later analyses allocate enormous per-stage tables.
  bool noteNumbers(const Cell &cell, int stage, int mb) {
    if (stage > maxNumber || mb > maxNumber)
      return fail(cell, strCat("stage or micro-batch in '", cell.text,
                               "' is above the limit of ", maxNumber));
    if (!highestStage || stage > highestStage->second)
      highestStage = {cell, stage};
    highestMicrobatch = std::max(highestMicrobatch, mb);
    return true;
  }

  /// Derives the counts from the highest numbers seen.
  bool finishShape() {
    schedule.kind = "imported";
    schedule.numRanks = schedule.ranks.size();
    schedule.numStages = highestStage->second + 1;
    schedule.numDirections = numDirections;
    schedule.numMicrobatches = (highestMicrobatch + 1) * numDirections;
    if (schedule.numStages % numDirections == 0)
      return true;
    return fail(highestStage->first,
                strCat("the highest stage is ", highestStage->second, ", so ",
                       schedule.numStages, " stages, which do not split into ",
                       numDirections, " directions"));
  }

  /// A comm cell's peer is the rank running the stage across the boundary.
  bool resolvePeers() {
    std::vector<int> placement =
        stagePlacement(schedule, /*includeComm=*/false);
    for (const PendingPeer &pending : pendingPeers) {
      Action &action = schedule.ranks[pending.rank][pending.index];
      int otherStage = remoteStageOf(schedule, action);
      if (otherStage < 0)
        return failPeer(pending, strCat("stage ", action.stage,
                                        " has no neighbour in that direction"));
      if (placement[otherStage] < 0)
        return failPeer(
            pending, strCat("stage ", otherStage, " runs no compute action"));
      action.peer = placement[otherStage];
    }
    return true;
  }

  bool failPeer(const PendingPeer &pending, const std::string &why) {
    return fail(pending.cell, strCat("cannot tell the peer of '",
                                     pending.cell.text, "': ", why));
  }

  /// Records the error; returns false for the caller to pass on.
  bool fail(const Cell &cell, std::string message) {
    error = CsvError{cell.line, cell.column, std::move(message)};
    return false;
  }

  std::string_view text;
  int numDirections;
  Schedule schedule;
  std::vector<PendingPeer> pendingPeers;
  std::optional<std::pair<Cell, int>> highestStage; // cell and its stage
  int highestMicrobatch = -1;
  CsvError error;
};
} // namespace

CsvParseResult pipeweave::schedule::parseTorchCsv(std::string_view text,
                                                  int numDirections) {
  return CsvParser(text, numDirections).parse();
}
