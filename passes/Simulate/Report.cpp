//===- Report.cpp - Simulation reports, pictures and comparisons ----------===//
//
// Text, JSON, SVG and Chrome-trace renderings of a Simulation. Each format is
// written by hand into one string: the library has no dependencies beyond
// the standard library.
//
//===----------------------------------------------------------------------===//

#include "passes/Simulate/Report.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

using namespace pipeweave::schedule;
using namespace pipeweave::simulate;
namespace overlap = pipeweave::overlap;

//===----------------------------------------------------------------------===//
// Numbers and names
//===----------------------------------------------------------------------===//

std::string pipeweave::simulate::formatJsonNumber(double value) {
  if (!std::isfinite(value))
    return "null";
  if (value == 0.0)
    return "0"; // also for -0
  std::array<char, 32> buffer;
  auto [end, ec] =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), ec == std::errc() ? end : buffer.data());
}

std::string pipeweave::simulate::formatReadableNumber(double value) {
  if (!std::isfinite(value))
    return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  std::array<char, 64> buffer;
  int length = std::snprintf(buffer.data(), buffer.size(), "%.4f", value);
  if (length < 0 || length >= static_cast<int>(buffer.size()))
    return formatJsonNumber(value);
  std::string text(buffer.data(), length);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.')
    text.pop_back();
  return text == "-0" ? "0" : text;
}

static std::string formatPercent(double ratio) {
  std::array<char, 32> buffer;
  int length =
      std::snprintf(buffer.data(), buffer.size(), "%.2f%%", ratio * 100.0);
  return std::string(buffer.data(), std::max(length, 0));
}

std::string_view pipeweave::simulate::kindLabel(ActionKind kind) {
  switch (kind) {
  case ActionKind::Forward:
    return "F";
  case ActionKind::BackwardInput:
    return "I";
  case ActionKind::BackwardWeight:
    return "W";
  case ActionKind::Backward:
    return "B";
  case ActionKind::OverlapFB:
    return "F&B";
  case ActionKind::Send:
    return "SEND";
  case ActionKind::Recv:
    return "RECV";
  }
  return "?";
}

static std::string_view payloadName(Payload payload) {
  return payload == Payload::Activation ? "activation" : "gradient";
}

static std::string_view causeName(StepCause cause) {
  switch (cause) {
  case StepCause::Start:
    return "start";
  case StepCause::SameRank:
    return "rank";
  case StepCause::Transfer:
    return "transfer";
  }
  return "?";
}

/// "0,15" for a rank's stages.
static std::string joinStages(const std::vector<int> &stages) {
  std::string text;
  for (int stage : stages) {
    if (!text.empty())
      text += ',';
    text += std::to_string(stage);
  }
  return text;
}

/// For each rank, whether each timeline slot is on the critical path.
static std::vector<std::vector<bool>>
criticalSlots(const Simulation &simulation) {
  std::vector<std::vector<bool>> critical(simulation.ranks.size());
  std::vector<std::vector<int>> indices(simulation.ranks.size());
  for (const CriticalStep &step : simulation.criticalPath.steps)
    if (step.rank >= 0 && step.rank < static_cast<int>(indices.size()))
      indices[step.rank].push_back(step.index);
  for (size_t rank = 0; rank < simulation.ranks.size(); ++rank) {
    const std::vector<TimedAction> &timeline = simulation.ranks[rank].timeline;
    critical[rank].assign(timeline.size(), false);
    std::sort(indices[rank].begin(), indices[rank].end());
    // Timelines are in schedule order, so one merge pass finds every step.
    size_t next = 0;
    for (size_t slot = 0; slot < timeline.size(); ++slot) {
      while (next < indices[rank].size() &&
             indices[rank][next] < timeline[slot].index)
        ++next;
      critical[rank][slot] = next < indices[rank].size() &&
                             indices[rank][next] == timeline[slot].index;
    }
  }
  return critical;
}

//===----------------------------------------------------------------------===//
// Writers
//===----------------------------------------------------------------------===//

namespace {
/// Appends JSON with a fixed key order. Containers opened "one line" (and
/// everything inside them) stay on one line; the others put each element on
/// its own indented line.
class JsonWriter {
public:
  void beginObject(bool oneLine = false) { open('{', oneLine); }
  void endObject() { close('}'); }
  void beginArray(bool oneLine = false) { open('[', oneLine); }
  void endArray() { close(']'); }

  void key(std::string_view name) {
    element();
    appendString(name);
    out += ": ";
    afterKey = true;
  }
  void number(double value) {
    element();
    out += formatJsonNumber(value);
  }
  void integer(int64_t value) {
    element();
    out += std::to_string(value);
  }
  void string(std::string_view value) {
    element();
    appendString(value);
  }
  void boolean(bool value) {
    element();
    out += value ? "true" : "false";
  }
  void null() {
    element();
    out += "null";
  }

  template <typename Value>
  void field(std::string_view name, const Value &value) {
    key(name);
    if constexpr (std::is_same_v<Value, bool>)
      boolean(value);
    else if constexpr (std::is_integral_v<Value>)
      integer(value);
    else if constexpr (std::is_floating_point_v<Value>)
      number(value);
    else
      string(value);
  }

  std::string take() {
    out += '\n';
    return std::move(out);
  }

private:
  struct Level {
    bool oneLine = false;
    bool empty = true;
  };

  void open(char bracket, bool oneLine) {
    element();
    out += bracket;
    bool inherited = !levels.empty() && levels.back().oneLine;
    levels.push_back({oneLine || inherited, true});
  }

  void close(char bracket) {
    Level level = levels.back();
    levels.pop_back();
    if (!level.oneLine && !level.empty)
      newline();
    out += bracket;
  }

  /// Separates a new element from the one before it.
  void element() {
    if (afterKey) {
      afterKey = false;
      return;
    }
    if (levels.empty())
      return;
    Level &level = levels.back();
    if (!level.empty)
      out += level.oneLine ? ", " : ",";
    if (!level.oneLine)
      newline();
    level.empty = false;
  }

  void newline() {
    out += '\n';
    out.append(2 * levels.size(), ' ');
  }

  void appendString(std::string_view text) {
    out += '"';
    for (char c : text) {
      switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          std::array<char, 8> escape;
          std::snprintf(escape.data(), escape.size(), "\\u%04x",
                        static_cast<unsigned char>(c));
          out += escape.data();
        } else {
          out += c;
        }
      }
    }
    out += '"';
  }

  std::string out;
  std::vector<Level> levels;
  bool afterKey = false;
};

/// Columns padded to their widest cell, two spaces apart, aligned as
/// `alignment` says: one 'l' (left) or 'r' (right) per column.
class TextTable {
public:
  explicit TextTable(std::string alignment) : alignment(std::move(alignment)) {}

  void addRow(std::vector<std::string> cells) {
    rows.push_back(std::move(cells));
  }

  std::string str(std::string_view indent = "") const {
    std::vector<size_t> widths;
    for (const std::vector<std::string> &row : rows) {
      widths.resize(std::max(widths.size(), row.size()), 0);
      for (size_t column = 0; column < row.size(); ++column)
        widths[column] = std::max(widths[column], row[column].size());
    }
    std::string text;
    for (const std::vector<std::string> &row : rows) {
      std::string line(indent);
      for (size_t column = 0; column < row.size(); ++column) {
        if (column > 0)
          line += "  ";
        std::string padding(widths[column] - row[column].size(), ' ');
        bool left = column < alignment.size() && alignment[column] == 'l';
        line += left ? row[column] + padding : padding + row[column];
      }
      line.erase(line.find_last_not_of(' ') + 1);
      text += line + '\n';
    }
    return text;
  }

private:
  std::string alignment;
  std::vector<std::vector<std::string>> rows;
};
} // namespace

//===----------------------------------------------------------------------===//
// Report: table and JSON
//===----------------------------------------------------------------------===//

static std::string shapeLine(const Simulation &simulation) {
  std::string line = simulation.kind.empty() ? "schedule" : simulation.kind;
  if (!simulation.name.empty())
    line += " @" + simulation.name;
  line += ": " + std::to_string(simulation.numRanks) + " ranks, " +
          std::to_string(simulation.numStages) + " stages, " +
          std::to_string(simulation.numMicrobatches) + " micro-batches";
  if (simulation.numDirections > 1)
    line += " in " + std::to_string(simulation.numDirections) + " directions";
  return line;
}

/// The critical path as runs of consecutive steps on one rank.
static std::string criticalPathTable(const Simulation &simulation) {
  const std::vector<CriticalStep> &steps = simulation.criticalPath.steps;
  struct Run {
    size_t first, last;
  };
  std::vector<Run> runs;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!runs.empty() && steps[runs.back().last].rank == steps[i].rank)
      runs.back().last = i;
    else
      runs.push_back({i, i});
  }

  TextTable table("rrrrl");
  table.addRow({"rank", "start", "end", "steps", "actions"});
  constexpr size_t kShownAtEachEnd = 20;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs.size() > 2 * kShownAtEachEnd && i == kShownAtEachEnd) {
      table.addRow(
          {"...", "", "", "",
           std::to_string(runs.size() - 2 * kShownAtEachEnd) + " more runs"});
      i = runs.size() - kShownAtEachEnd - 1;
      continue;
    }
    const CriticalStep &first = steps[runs[i].first];
    const CriticalStep &last = steps[runs[i].last];
    std::string actions = first.action.str();
    if (runs[i].last != runs[i].first)
      actions += " .. " + last.action.str();
    table.addRow({std::to_string(first.rank), formatReadableNumber(first.start),
                  formatReadableNumber(last.end),
                  std::to_string(runs[i].last - runs[i].first + 1), actions});
  }
  return "critical path: " + std::to_string(steps.size()) + " actions, " +
         std::to_string(simulation.criticalPath.rankCrossings) +
         " rank crossings\n" + table.str("  ");
}

/// "0&3, 1&2": the (forward, backward) stages of a row, at most 4 shown.
static std::string joinStagePairs(const overlap::PairSummary &row) {
  constexpr size_t kShown = 4;
  std::string text;
  for (size_t i = 0; i < row.stagePairs.size() && i < kShown; ++i)
    text += (i ? ", " : "") + std::to_string(row.stagePairs[i].first) + "&" +
            std::to_string(row.stagePairs[i].second);
  if (row.stagePairs.size() > kShown)
    text += ", +" + std::to_string(row.stagePairs.size() - kShown);
  return text;
}

/// One row per distinct planned pair: the plan's figures, and DeepSeek's
/// order under the same costs where the layers have its shape.
static std::string overlapPairsTable(const Simulation &simulation) {
  TextTable table("lrrrrlrrrr");
  table.addRow({"F&B stages", "actions", "layers", "makespan", "lower bound",
                "optimal", "compute busy", "comm hidden", "DeepSeek makespan",
                "DeepSeek hidden"});
  for (const overlap::PairSummary &row : simulation.overlapPairs) {
    const overlap::OrderFigures &planned = row.planned;
    table.addRow(
        {joinStagePairs(row), std::to_string(row.actions),
         std::to_string(row.forwardLayers) + "&" +
             std::to_string(row.backwardLayers),
         formatReadableNumber(planned.makespan),
         formatReadableNumber(row.lowerBound),
         row.plannedIsOptimal() ? "yes"
         : row.provenOptimal    ? "no"
                                : "unknown",
         formatReadableNumber(planned.computeBusy) + " (" +
             formatPercent(planned.computeUtilization) + ")",
         formatPercent(planned.hiddenFraction),
         row.deepseek ? formatReadableNumber(row.deepseek->makespan) : "-",
         row.deepseek ? formatPercent(row.deepseek->hiddenFraction) : "-"});
  }
  return "overlapped F&B pairs, components on a compute and a comm stream "
         "(times per pair; hidden = share of all-to-all time under "
         "compute)\n" +
         table.str("  ");
}

std::string pipeweave::simulate::formatReportTable(const Simulation &sim) {
  ActivationPeak peak = sim.maxPeakActivations();
  std::string text = shapeLine(sim) + "\n";
  text += "makespan " + formatReadableNumber(sim.makespan) + ", busy " +
          formatReadableNumber(sim.busy) + " of " +
          formatReadableNumber(sim.numRanks * sim.makespan) +
          " rank-time, bubble " + formatReadableNumber(sim.bubble) + " (" +
          formatPercent(sim.bubbleRatio) + ")\n";
  text += "peak activations per rank " + std::to_string(peak.count) + " (" +
          std::to_string(peak.bytes) + " bytes, " +
          formatReadableNumber(sim.peakActivationsInModelUnits()) +
          " in model/R units); parameter copies per rank " +
          formatReadableNumber(sim.parameterCopies()) + "\n\n";

  TextTable ranks("rlrrrrrr");
  ranks.addRow({"rank", "stages", "actions", "busy", "bubble", "bubble %",
                "peak act", "peak act bytes"});
  for (size_t rank = 0; rank < sim.ranks.size(); ++rank) {
    const RankResult &result = sim.ranks[rank];
    ranks.addRow({std::to_string(rank), joinStages(result.stages),
                  std::to_string(result.timeline.size()),
                  formatReadableNumber(result.busy),
                  formatReadableNumber(result.bubble),
                  formatPercent(result.bubbleRatio),
                  std::to_string(result.peakActivations.count),
                  std::to_string(result.peakActivations.bytes)});
  }
  text += ranks.str() + "\n" + criticalPathTable(sim);
  if (!sim.overlapPairs.empty())
    text += "\n" + overlapPairsTable(sim);
  return text;
}

static void writeOrderFigures(JsonWriter &json,
                              const overlap::OrderFigures &figures) {
  json.field("makespan", figures.makespan);
  json.field("compute_busy", figures.computeBusy);
  json.field("compute_utilization", figures.computeUtilization);
  json.field("comm_busy", figures.commBusy);
  json.field("comm_hidden", figures.commHidden);
  json.field("hidden_fraction", figures.hiddenFraction);
}

std::string pipeweave::simulate::formatReportJson(const Simulation &sim) {
  ActivationPeak peak = sim.maxPeakActivations();
  int64_t transferBytes = 0;
  for (const Transfer &transfer : sim.transfers)
    transferBytes += transfer.bytes;

  JsonWriter json;
  json.beginObject();
  json.field("name", sim.name);
  json.field("schedule", sim.kind);
  json.field("num_ranks", sim.numRanks);
  json.field("num_stages", sim.numStages);
  json.field("num_microbatches", sim.numMicrobatches);
  json.field("num_directions", sim.numDirections);
  json.field("makespan", sim.makespan);
  json.field("busy", sim.busy);
  json.field("bubble", sim.bubble);
  json.field("bubble_ratio", sim.bubbleRatio);
  json.field("peak_activations", peak.count);
  json.field("peak_activation_bytes", peak.bytes);
  json.field("peak_activations_model_units", sim.peakActivationsInModelUnits());
  json.field("parameter_copies", sim.parameterCopies());
  json.field("transfers", static_cast<int64_t>(sim.transfers.size()));
  json.field("transfer_bytes", transferBytes);

  json.key("ranks");
  json.beginArray();
  for (size_t rank = 0; rank < sim.ranks.size(); ++rank) {
    const RankResult &result = sim.ranks[rank];
    json.beginObject(/*oneLine=*/true);
    json.field("rank", static_cast<int64_t>(rank));
    json.key("stages");
    json.beginArray();
    for (int stage : result.stages)
      json.integer(stage);
    json.endArray();
    json.field("actions", static_cast<int64_t>(result.timeline.size()));
    json.field("busy", result.busy);
    json.field("bubble", result.bubble);
    json.field("bubble_ratio", result.bubbleRatio);
    json.field("peak_activations", result.peakActivations.count);
    json.field("peak_activation_bytes", result.peakActivations.bytes);
    json.endObject();
  }
  json.endArray();

  json.key("critical_path");
  json.beginObject();
  json.field("rank_crossings", sim.criticalPath.rankCrossings);
  json.key("steps");
  json.beginArray();
  for (const CriticalStep &step : sim.criticalPath.steps) {
    json.beginObject(/*oneLine=*/true);
    json.field("rank", step.rank);
    json.field("index", step.index);
    json.field("action", step.action.str());
    json.field("kind", kindLabel(step.action.kind));
    json.field("stage", step.action.stage);
    json.field("microbatch", step.action.microbatch);
    if (step.action.kind == ActionKind::OverlapFB) {
      json.field("stage2", step.action.stage2);
      json.field("microbatch2", step.action.microbatch2);
    }
    json.field("start", step.start);
    json.field("end", step.end);
    json.field("cause", causeName(step.cause));
    json.endObject();
  }
  json.endArray();
  json.endObject();

  if (!sim.overlapPairs.empty()) {
    json.key("overlap_pairs");
    json.beginArray();
    for (const overlap::PairSummary &row : sim.overlapPairs) {
      json.beginObject();
      json.key("stage_pairs");
      json.beginArray(/*oneLine=*/true);
      for (auto [forward, backward] : row.stagePairs) {
        json.beginArray();
        json.integer(forward);
        json.integer(backward);
        json.endArray();
      }
      json.endArray();
      json.field("actions", row.actions);
      json.field("forward_layers", row.forwardLayers);
      json.field("backward_layers", row.backwardLayers);
      json.field("items", row.items);
      writeOrderFigures(json, row.planned);
      json.field("lower_bound", row.lowerBound);
      json.field("best_makespan", row.bestMakespan);
      json.field("proven_optimal", row.provenOptimal);
      json.field("optimal", row.plannedIsOptimal());
      json.key("deepseek");
      if (row.deepseek) {
        json.beginObject(/*oneLine=*/true);
        writeOrderFigures(json, *row.deepseek);
        json.endObject();
      } else {
        json.null();
      }
      json.endObject();
    }
    json.endArray();
  }
  json.endObject();
  return json.take();
}

//===----------------------------------------------------------------------===//
// SVG timeline
//===----------------------------------------------------------------------===//

namespace {
struct Shade {
  const char *fill;
  const char *text;
};

/// A light shade (direction 0, or a rank's first stage) and a dark one with
/// white numbers (direction 1, or a rank's second stage).
struct KindColours {
  ActionKind kind;
  const char *name;
  Shade shades[2];
};

constexpr KindColours kPalette[] = {
    {ActionKind::Forward,
     "forward (F)",
     {{"#f9c784", "#222"}, {"#d9651e", "#fff"}}},
    {ActionKind::Backward,
     "backward (B)",
     {{"#a3d9a5", "#222"}, {"#2e8b57", "#fff"}}},
    {ActionKind::BackwardInput,
     "backward for input (I)",
     {{"#a9cdf0", "#222"}, {"#2f6fb0", "#fff"}}},
    {ActionKind::BackwardWeight,
     "backward for weights (W)",
     {{"#d5c8ee", "#222"}, {"#6f4fb0", "#fff"}}},
};
} // namespace

static const KindColours &coloursOf(ActionKind kind) {
  for (const KindColours &colours : kPalette)
    if (colours.kind == kind)
      return colours;
  return kPalette[0];
}

static std::string escapeXml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      // XML 1.0 forbids most control characters, even escaped.
      if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n')
        out += c;
    }
  }
  return out;
}

/// SVG coordinates with two decimals at most.
static std::string px(double value) {
  return formatReadableNumber(std::round(value * 100.0) / 100.0);
}

namespace {
class SvgTimeline {
public:
  SvgTimeline(const Simulation &simulation, const SvgOptions &options)
      : sim(simulation), options(options), critical(criticalSlots(simulation)) {
    double makespan = std::max(sim.makespan, 1e-9);
    scale = options.pixelsPerUnit > 0
                ? options.pixelsPerUnit
                : std::clamp(1600.0 / makespan, 2.0, 48.0);
    rowHeight = std::max(options.rowHeight, 8);
    chunkOf.assign(std::max(sim.numStages, 0), 0);
    for (const RankResult &rank : sim.ranks) {
      stagesPerRank = std::max(stagesPerRank, rank.stages.size());
      for (size_t chunk = 0; chunk < rank.stages.size(); ++chunk)
        if (rank.stages[chunk] >= 0 && rank.stages[chunk] < sim.numStages)
          chunkOf[rank.stages[chunk]] = chunk;
    }
    for (const RankResult &rank : sim.ranks)
      for (const TimedAction &timed : rank.timeline) {
        if (timed.action.kind == ActionKind::OverlapFB) {
          hasPairs = true;
          present[kindSlot(ActionKind::Forward)] = true;
          present[kindSlot(ActionKind::Backward)] = true;
        } else {
          present[kindSlot(timed.action.kind)] = true;
        }
      }
  }

  std::string render() {
    double plotWidth = sim.makespan * scale;
    double width = kLeft + plotWidth + kRight;
    double rowsBottom = kTop + sim.ranks.size() * rowPitch();
    double legendTop = rowsBottom + 44;
    double height = legendTop + (twoShades() ? 52 : 30);

    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(width) +
           "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(width) + " " +
           px(height) + "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
    out += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
    out += "<text x=\"" + px(kLeft) +
           "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" +
           escapeXml(title()) + "</text>\n";
    // Backgrounds, then the grid, then the cells, so that grid lines show
    // through idle time only.
    for (size_t rank = 0; rank < sim.ranks.size(); ++rank)
      rect(kLeft, rowTop(rank), plotWidth, rowHeight, "#ececec");
    out += "\n";
    renderAxis(plotWidth, rowsBottom);
    renderRows(plotWidth);
    renderLegend(legendTop);
    out += "</svg>\n";
    return std::move(out);
  }

private:
  static constexpr double kLeft = 64, kRight = 96, kTop = 36, kRowGap = 6;

  double rowPitch() const { return rowHeight + kRowGap; }
  double rowTop(size_t rank) const { return kTop + rank * rowPitch(); }
  double xOf(double time) const { return kLeft + time * scale; }

  static int kindSlot(ActionKind kind) {
    switch (kind) {
    case ActionKind::Forward:
      return 0;
    case ActionKind::Backward:
      return 1;
    case ActionKind::BackwardInput:
      return 2;
    default:
      return 3;
    }
  }

  /// Whether cells are told apart by direction (DualPipe) or by which of
  /// its rank's stages they run (V shapes, interleaved).
  bool twoShades() const { return sim.numDirections > 1 || stagesPerRank > 1; }

  const Shade &shadeOf(ActionKind kind, int stage) const {
    int dark = 0;
    if (sim.numDirections > 1)
      dark = sim.directionOf(stage) % 2;
    else if (stage >= 0 && stage < static_cast<int>(chunkOf.size()))
      dark = chunkOf[stage] % 2;
    return coloursOf(kind).shades[dark];
  }

  std::string title() const {
    if (!options.title.empty())
      return options.title;
    std::string text = sim.kind.empty() ? "schedule" : sim.kind;
    if (!sim.name.empty())
      text += " @" + sim.name;
    return text + ": " + std::to_string(sim.numRanks) + " ranks, " +
           std::to_string(sim.numMicrobatches) + " micro-batches, makespan " +
           formatReadableNumber(sim.makespan) + ", bubble " +
           formatPercent(sim.bubbleRatio);
  }

  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view extra = "") {
    out += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(w) +
           "\" height=\"" + px(h) + "\" fill=\"" + std::string(fill) + "\"";
    if (!extra.empty())
      out += " " + std::string(extra);
    out += "/>";
  }

  /// A number centred in a box, if it fits.
  void label(double x, double y, double w, double h, int number,
             std::string_view colour, double fontSize) {
    std::string text = std::to_string(number);
    if (w < text.size() * fontSize * 0.62 + 2 || h < fontSize)
      return;
    out += "<text x=\"" + px(x + w / 2) + "\" y=\"" +
           px(y + h / 2 + fontSize * 0.36) + "\" font-size=\"" + px(fontSize) +
           "\" text-anchor=\"middle\" fill=\"" + std::string(colour) + "\">" +
           text + "</text>";
  }

  void renderRows(double plotWidth) {
    for (size_t rank = 0; rank < sim.ranks.size(); ++rank) {
      const RankResult &result = sim.ranks[rank];
      double y = rowTop(rank);
      out += "<text x=\"" + px(kLeft - 8) + "\" y=\"" +
             px(y + rowHeight / 2.0 + 4.5) +
             "\" font-size=\"13\" text-anchor=\"end\">rank " +
             std::to_string(rank) + "</text>\n";
      for (size_t slot = 0; slot < result.timeline.size(); ++slot)
        renderCell(rank, result.timeline[slot], y, critical[rank][slot]);
      out += "<text x=\"" + px(kLeft + plotWidth + 8) + "\" y=\"" +
             px(y + rowHeight / 2.0 + 4) +
             "\" font-size=\"11\" fill=\"#555\">bubble " +
             formatReadableNumber(result.bubble) + "</text>\n";
    }
  }

  void renderCell(size_t rank, const TimedAction &timed, double y,
                  bool onCriticalPath) {
    const Action &action = timed.action;
    double x = xOf(timed.start);
    double w = std::max((timed.end - timed.start) * scale, 1.0);
    double h = rowHeight;
    out += "<g><title>rank " + std::to_string(rank) + ": " +
           escapeXml(action.str()) + ", " + formatReadableNumber(timed.start) +
           " - " + formatReadableNumber(timed.end) + "</title>";
    double fontSize = std::min(12.0, h * 0.45);
    if (action.kind == ActionKind::OverlapFB) {
      // Forward half on top, backward half below, one heavy outline.
      const Shade &top = shadeOf(ActionKind::Forward, action.stage);
      const Shade &bottom = shadeOf(ActionKind::Backward, action.stage2);
      double half = h / 2;
      double pairFont = std::min(11.0, half - 2);
      rect(x, y, w, half, top.fill);
      rect(x, y + half, w, half, bottom.fill);
      rect(x + 0.75, y + 0.75, std::max(w - 1.5, 0.0), h - 1.5, "none",
           "stroke=\"#111\" stroke-width=\"1.5\"");
      label(x, y, w, half, action.microbatch, top.text, pairFont);
      label(x, y + half, w, half, action.microbatch2, bottom.text, pairFont);
    } else {
      const Shade &shade = shadeOf(action.kind, action.stage);
      rect(x, y, w, h, shade.fill, "stroke=\"#555\" stroke-width=\"0.6\"");
      label(x, y, w, h, action.microbatch, shade.text, fontSize);
    }
    if (onCriticalPath && options.markCriticalPath)
      rect(x, y + h + 1, w, 3, "#d62728");
    out += "</g>\n";
  }

  void renderAxis(double plotWidth, double rowsBottom) {
    // Ticks at 1, 2 or 5 times a power of ten, at least ~48 px apart.
    double minStep = 48.0 / scale;
    double step = 1.0;
    for (double decade = std::pow(10.0, std::floor(std::log10(minStep)));;
         decade *= 10) {
      auto pick = std::find_if(std::begin(kSteps), std::end(kSteps),
                               [&](double s) { return s * decade >= minStep; });
      if (pick != std::end(kSteps)) {
        step = *pick * decade;
        break;
      }
    }
    double axisY = rowsBottom + 2;
    out += "<g stroke=\"#999\" stroke-width=\"0.6\">";
    out += "<line x1=\"" + px(kLeft) + "\" y1=\"" + px(axisY) + "\" x2=\"" +
           px(kLeft + plotWidth) + "\" y2=\"" + px(axisY) + "\"/>";
    std::string labels;
    for (int i = 0;; ++i) {
      double time = i * step;
      if (time > sim.makespan + 1e-9 * step)
        break;
      double x = xOf(time);
      out += "<line x1=\"" + px(x) + "\" y1=\"" + px(kTop - 4) + "\" x2=\"" +
             px(x) + "\" y2=\"" + px(axisY + 4) +
             "\" stroke-dasharray=\"2,3\"/>";
      labels += "<text x=\"" + px(x) + "\" y=\"" + px(axisY + 16) +
                "\" font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">" +
                formatReadableNumber(time) + "</text>";
    }
    out += "</g>\n" + labels + "\n";
    out += "<text x=\"" + px(kLeft + plotWidth) + "\" y=\"" + px(axisY + 32) +
           "\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">time "
           "(cost-model units)</text>\n";
  }

  /// One swatch and its caption; returns the x after it.
  double legendEntry(double x, double y, const std::vector<Shade> &shades,
                     std::string_view caption) {
    for (const Shade &shade : shades) {
      rect(x, y, 18, 14, shade.fill, "stroke=\"#555\" stroke-width=\"0.6\"");
      x += 20;
    }
    out += "<text x=\"" + px(x + 4) + "\" y=\"" + px(y + 11) +
           "\" font-size=\"12\">" + escapeXml(caption) + "</text>";
    return x + 4 + caption.size() * 6.6 + 18;
  }

  void renderLegend(double top) {
    double x = kLeft;
    for (const KindColours &colours : kPalette) {
      if (!present[kindSlot(colours.kind)])
        continue;
      std::vector<Shade> shades{colours.shades[0]};
      if (twoShades())
        shades.push_back(colours.shades[1]);
      x = legendEntry(x, top, shades, colours.name);
    }
    if (hasPairs) {
      const Shade &f = coloursOf(ActionKind::Forward).shades[0];
      const Shade &b = coloursOf(ActionKind::Backward).shades[0];
      rect(x, top, 18, 7, f.fill);
      rect(x, top + 7, 18, 7, b.fill);
      rect(x + 0.75, top + 0.75, 16.5, 12.5, "none",
           "stroke=\"#111\" stroke-width=\"1.5\"");
      std::string_view caption = "overlapped F&B pair (F on top)";
      out += "<text x=\"" + px(x + 24) + "\" y=\"" + px(top + 11) +
             "\" font-size=\"12\">" + escapeXml(caption) + "</text>";
      x += 24 + caption.size() * 6.6 + 18;
    }
    if (options.markCriticalPath) {
      rect(x, top + 5, 18, 3, "#d62728");
      out += "<text x=\"" + px(x + 24) + "\" y=\"" + px(top + 11) +
             "\" font-size=\"12\">critical path</text>";
      x += 24 + 13 * 6.6 + 18;
    }
    rect(x, top, 18, 14, "#ececec");
    out += "<text x=\"" + px(x + 24) + "\" y=\"" + px(top + 11) +
           "\" font-size=\"12\">idle</text>\n";
    if (twoShades())
      out += "<text x=\"" + px(kLeft) + "\" y=\"" + px(top + 34) +
             "\" font-size=\"12\" fill=\"#444\">" + escapeXml(shadeNote()) +
             "</text>\n";
  }

  std::string shadeNote() const {
    if (sim.numDirections > 1) {
      int perDirection = sim.numStages / sim.numDirections;
      return "light: direction 0 (stages 0.." +
             std::to_string(perDirection - 1) +
             "), dark: direction 1 (stages " + std::to_string(perDirection) +
             ".." + std::to_string(2 * perDirection - 1) +
             "); numbers are micro-batches within a direction";
    }
    std::string example;
    for (int stage :
         sim.ranks.empty() ? std::vector<int>{} : sim.ranks[0].stages)
      example += (example.empty() ? "" : ", ") + std::to_string(stage);
    return stagesPerRank == 2
               ? "light: each rank's first stage, dark: its second (rank 0: "
                 "stages " +
                     example + "); numbers are micro-batches"
               : "light and dark alternate over each rank's stages (rank 0: "
                 "stages " +
                     example + "); numbers are micro-batches";
  }

  static constexpr double kSteps[] = {1.0, 2.0, 5.0};

  const Simulation &sim;
  const SvgOptions &options;
  std::vector<std::vector<bool>> critical;
  double scale = 1.0;
  int rowHeight = 30;
  std::vector<int> chunkOf; // per stage: its place among its rank's stages
  size_t stagesPerRank = 0; // the most stages any rank runs
  bool present[4] = {false, false, false, false};
  bool hasPairs = false;
  std::string out;
};
} // namespace

std::string pipeweave::simulate::formatSvgTimeline(const Simulation &simulation,
                                                   const SvgOptions &options) {
  return SvgTimeline(simulation, options).render();
}

//===----------------------------------------------------------------------===//
// Chrome trace
//===----------------------------------------------------------------------===//

std::string
pipeweave::simulate::formatChromeTrace(const Simulation &sim,
                                       const ChromeTraceOptions &options) {
  double usPerUnit = options.microsecondsPerUnit;
  std::vector<std::vector<bool>> critical = criticalSlots(sim);

  // Comm lanes per sending rank: each transfer takes the first lane that is
  // free by its start, so slices on one thread never partially overlap.
  std::vector<const Transfer *> transfers;
  for (const Transfer &transfer : sim.transfers)
    transfers.push_back(&transfer);
  std::stable_sort(transfers.begin(), transfers.end(),
                   [](const Transfer *a, const Transfer *b) {
                     return a->fromRank != b->fromRank
                                ? a->fromRank < b->fromRank
                                : a->sent < b->sent;
                   });
  std::vector<int> laneOf(transfers.size(), 1);
  std::vector<int> lanesOfRank(sim.ranks.size(), 1);
  {
    std::vector<double> laneFreeAt;
    int rank = -1;
    for (size_t i = 0; i < transfers.size(); ++i) {
      if (transfers[i]->fromRank != rank) {
        rank = transfers[i]->fromRank;
        laneFreeAt.clear();
      }
      size_t lane = 0;
      while (lane < laneFreeAt.size() && laneFreeAt[lane] > transfers[i]->sent)
        ++lane;
      if (lane == laneFreeAt.size())
        laneFreeAt.push_back(0.0);
      laneFreeAt[lane] = transfers[i]->arrived;
      laneOf[i] = lane + 1;
      if (rank >= 0 && rank < static_cast<int>(lanesOfRank.size()))
        lanesOfRank[rank] = std::max<int>(lanesOfRank[rank], lane + 1);
    }
  }

  JsonWriter json;
  json.beginObject();
  json.key("traceEvents");
  json.beginArray();
  auto metadata = [&](std::string_view name, int pid, int tid,
                      std::string_view argName, const auto &argValue) {
    json.beginObject(/*oneLine=*/true);
    json.field("name", name);
    json.field("ph", "M");
    json.field("pid", pid);
    json.field("tid", tid);
    json.key("args");
    json.beginObject();
    json.field(argName, argValue);
    json.endObject();
    json.endObject();
  };
  for (int rank = 0; rank < static_cast<int>(sim.ranks.size()); ++rank) {
    metadata("process_name", rank, 0, "name", "rank " + std::to_string(rank));
    metadata("process_sort_index", rank, 0, "sort_index", rank);
    metadata("thread_name", rank, 0, "name", std::string("compute"));
    metadata("thread_sort_index", rank, 0, "sort_index", 0);
    for (int lane = 1; lane <= lanesOfRank[rank]; ++lane) {
      metadata("thread_name", rank, lane, "name",
               lane == 1 ? std::string("comm")
                         : "comm " + std::to_string(lane));
      metadata("thread_sort_index", rank, lane, "sort_index", lane);
    }
  }

  auto slice = [&](std::string_view name, std::string_view category, int pid,
                   int tid, double start, double end) {
    json.beginObject(/*oneLine=*/true);
    json.field("name", name);
    json.field("cat", category);
    json.field("ph", "X");
    // Both ends scaled on their own so that ts + dur lands on the scaled end
    // and back-to-back slices still touch exactly.
    json.field("ts", start * usPerUnit);
    json.field("dur", end * usPerUnit - start * usPerUnit);
    json.field("pid", pid);
    json.field("tid", tid);
    json.key("args");
    json.beginObject();
  };
  auto endSlice = [&] {
    json.endObject();
    json.endObject();
  };

  for (int rank = 0; rank < static_cast<int>(sim.ranks.size()); ++rank) {
    const std::vector<TimedAction> &timeline = sim.ranks[rank].timeline;
    for (size_t slot = 0; slot < timeline.size(); ++slot) {
      const TimedAction &timed = timeline[slot];
      const Action &action = timed.action;
      slice(action.str(), kindLabel(action.kind), rank, 0, timed.start,
            timed.end);
      json.field("stage", action.stage);
      json.field("mb", action.microbatch);
      if (action.kind == ActionKind::OverlapFB) {
        json.field("stage2", action.stage2);
        json.field("mb2", action.microbatch2);
      }
      json.field("kind", kindLabel(action.kind));
      json.field("index", timed.index);
      json.field("critical", static_cast<bool>(critical[rank][slot]));
      endSlice();
    }
  }
  for (size_t i = 0; i < transfers.size(); ++i) {
    const Transfer &transfer = *transfers[i];
    // A gradient comes from a B or an I, so name tensors by stage and mb.
    slice(std::string(payloadName(transfer.payload)) + " s" +
              std::to_string(transfer.stage) + " mb" +
              std::to_string(transfer.microbatch) + " -> rank " +
              std::to_string(transfer.toRank),
          payloadName(transfer.payload), transfer.fromRank, laneOf[i],
          transfer.sent, transfer.arrived);
    json.field("stage", transfer.stage);
    json.field("mb", transfer.microbatch);
    json.field("kind", payloadName(transfer.payload));
    json.field("to", transfer.toRank);
    json.field("bytes", transfer.bytes);
    endSlice();
  }
  json.endArray();
  json.field("displayTimeUnit", "ms");
  json.endObject();
  return json.take();
}

//===----------------------------------------------------------------------===//
// Comparison
//===----------------------------------------------------------------------===//

ComparisonRow pipeweave::simulate::summarize(const Simulation &simulation,
                                             std::string label) {
  ActivationPeak peak = simulation.maxPeakActivations();
  ComparisonRow row;
  row.label = label.empty() ? simulation.kind : std::move(label);
  row.kind = simulation.kind;
  row.ranks = simulation.numRanks;
  row.microbatches = simulation.numMicrobatches;
  row.makespan = simulation.makespan;
  row.bubbleRatio = simulation.bubbleRatio;
  row.peakActivations = peak.count;
  row.peakActivationsModelUnits = simulation.peakActivationsInModelUnits();
  row.peakActivationBytes = peak.bytes;
  row.parameterCopies = simulation.parameterCopies();
  row.criticalPathCrossings = simulation.criticalPath.rankCrossings;
  return row;
}

std::string pipeweave::simulate::formatComparisonTable(
    const std::vector<ComparisonRow> &rows) {
  TextTable table("lrrrrrrrr");
  table.addRow({"schedule", "ranks", "micro-batches", "makespan", "bubble",
                "peak act", "act (model/R)", "act bytes", "param copies"});
  for (const ComparisonRow &row : rows)
    table.addRow(
        {row.label, std::to_string(row.ranks), std::to_string(row.microbatches),
         formatReadableNumber(row.makespan), formatPercent(row.bubbleRatio),
         std::to_string(row.peakActivations),
         formatReadableNumber(row.peakActivationsModelUnits),
         std::to_string(row.peakActivationBytes),
         formatReadableNumber(row.parameterCopies)});
  return table.str() +
         "peak act: most live stage activations on one rank; act (model/R): "
         "the same in micro-batches through 1/R of the model; param copies: "
         "parameters per rank in 1/R of the model\n";
}

std::string pipeweave::simulate::formatComparisonJson(
    const std::vector<ComparisonRow> &rows) {
  JsonWriter json;
  json.beginObject();
  json.key("schedules");
  json.beginArray();
  for (const ComparisonRow &row : rows) {
    json.beginObject(/*oneLine=*/true);
    json.field("label", row.label);
    json.field("schedule", row.kind);
    json.field("ranks", row.ranks);
    json.field("microbatches", row.microbatches);
    json.field("makespan", row.makespan);
    json.field("bubble_ratio", row.bubbleRatio);
    json.field("peak_activations", row.peakActivations);
    json.field("peak_activations_model_units", row.peakActivationsModelUnits);
    json.field("peak_activation_bytes", row.peakActivationBytes);
    json.field("parameter_copies", row.parameterCopies);
    json.field("critical_path_crossings", row.criticalPathCrossings);
    json.endObject();
  }
  json.endArray();
  json.endObject();
  return json.take();
}
