//===- ReportTest.cpp - Report table, JSON, SVG, Chrome trace, comparison -===//
//
// The figures are read back out of the formats (JSON through a strict
// parser, SVG through a tag-balance check) and compared with values derived
// outside the simulator: issue 4's DualPipe 8x20 numbers, the hand-timed
// two-rank 1F1B, and the closed forms for 1F1B and ZB-H1.
//
//===----------------------------------------------------------------------===//

#include "passes/Simulate/Report.h"

#include "test/unit/TestHelpers.h"
#include "test/unit/simulate/MiniJson.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;
using namespace pipeweave::simulate;
using pipeweave::simulate::pwtest::Json;
using pipeweave::simulate::pwtest::JsonParser;

namespace {

Simulation simulated(const Schedule &schedule, const CostModel &costs) {
  SimulateResult result = simulate(schedule, costs);
  EXPECT_TRUE(result.simulation.has_value())
      << (result.error ? result.error->message : "");
  return result.simulation ? *result.simulation : Simulation();
}

Schedule generated(ScheduleKind kind, int ranks, int microbatches) {
  ScheduleParams params;
  params.kind = kind;
  params.ranks = ranks;
  params.microbatches = microbatches;
  Schedule schedule = generateSchedule(params);
  schedule.name = "train";
  return schedule;
}

/// DualPipe 8x20 under the README costs (F = I = W = 1, F&B = 2.5), each
/// stage activation 4096 bytes.
Simulation dualPipe8x20() {
  Schedule schedule = generated(ScheduleKind::DualPipe, 8, 20);
  CostModel costs = uniformCosts(16, 1, 1, 1, 2.5);
  for (StageCost &stage : costs.stages)
    stage.activationMemory = 4096;
  return simulated(schedule, costs);
}

/// Issue 4's per-rank bubbles for DualPipe 8x20.
const std::vector<double> kDualPipeBubbles{3.5, 4, 4.5, 4.5, 4.5, 4.5, 4, 3.5};

Json parsed(const std::string &text) {
  std::string error;
  std::optional<Json> json = JsonParser::parse(text, &error);
  EXPECT_TRUE(json.has_value()) << error << "\n" << text.substr(0, 2000);
  return json ? *json : Json();
}

std::vector<std::string> tokens(const std::string &line) {
  std::istringstream stream(line);
  std::vector<std::string> words;
  for (std::string word; stream >> word;)
    words.push_back(word);
  return words;
}

std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> all;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);)
    all.push_back(line);
  return all;
}

size_t occurrences(const std::string &text, const std::string &fragment) {
  size_t count = 0;
  for (size_t at = text.find(fragment); at != std::string::npos;
       at = text.find(fragment, at + fragment.size()))
    ++count;
  return count;
}

/// Empty when every tag is closed in order and every '&' starts an entity.
std::string xmlProblems(const std::string &svg) {
  std::vector<std::string> open;
  for (size_t at = svg.find('<'); at != std::string::npos;
       at = svg.find('<', at + 1)) {
    size_t end = svg.find('>', at);
    if (end == std::string::npos)
      return "unterminated tag at " + std::to_string(at);
    std::string tag = svg.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '?' || tag[0] == '!')
      continue;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return "unbalanced </" + tag.substr(1) + "> at " + std::to_string(at);
      open.pop_back();
      continue;
    }
    if (tag.back() == '/')
      continue;
    open.push_back(tag.substr(0, tag.find(' ')));
  }
  if (!open.empty())
    return "unclosed <" + open.back() + ">";
  for (size_t at = svg.find('&'); at != std::string::npos;
       at = svg.find('&', at + 1)) {
    bool entity = false;
    for (const char *name : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      entity |= svg.compare(at, std::string(name).size(), name) == 0;
    if (!entity)
      return "bare & at " + std::to_string(at);
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Numbers
//===----------------------------------------------------------------------===//

TEST(ReportNumbersTest, JsonNumbersAreShortestRoundTrip) {
  EXPECT_EQ(formatJsonNumber(59), "59");
  EXPECT_EQ(formatJsonNumber(3.5), "3.5");
  EXPECT_EQ(formatJsonNumber(0.1), "0.1");
  EXPECT_EQ(formatJsonNumber(-2.25), "-2.25");
  EXPECT_EQ(formatJsonNumber(1e21), "1e+21");
  EXPECT_EQ(formatJsonNumber(-0.0), "0");
  EXPECT_EQ(formatJsonNumber(std::nan("")), "null");
  EXPECT_EQ(formatJsonNumber(std::numeric_limits<double>::infinity()), "null");
  for (double value :
       {1.0 / 3, 0.1 + 0.2, 6.02214076e23, 5e-324, 59000.0, 33.0 / 472})
    EXPECT_EQ(std::strtod(formatJsonNumber(value).c_str(), nullptr), value);
}

TEST(ReportNumbersTest, ReadableNumbersKeepFourDecimals) {
  EXPECT_EQ(formatReadableNumber(59), "59");
  EXPECT_EQ(formatReadableNumber(55.5), "55.5");
  EXPECT_EQ(formatReadableNumber(1.0 / 3), "0.3333");
  EXPECT_EQ(formatReadableNumber(0.1 + 0.2), "0.3");
  EXPECT_EQ(formatReadableNumber(-0.00001), "0");
  EXPECT_EQ(formatReadableNumber(1234567), "1234567");
}

TEST(ReportNumbersTest, KindLabels) {
  EXPECT_EQ(kindLabel(ActionKind::Forward), "F");
  EXPECT_EQ(kindLabel(ActionKind::BackwardInput), "I");
  EXPECT_EQ(kindLabel(ActionKind::BackwardWeight), "W");
  EXPECT_EQ(kindLabel(ActionKind::Backward), "B");
  EXPECT_EQ(kindLabel(ActionKind::OverlapFB), "F&B");
}

//===----------------------------------------------------------------------===//
// JSON report
//===----------------------------------------------------------------------===//

TEST(ReportJsonTest, DualPipe8x20FiguresComeOutOfTheJson) {
  Json report = parsed(formatReportJson(dualPipe8x20()));
  ASSERT_EQ(report.type, Json::Type::Object);
  std::vector<std::string> keys = report.keys();
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "name", "schedule", "num_ranks", "num_stages",
                      "num_microbatches", "num_directions", "makespan", "busy",
                      "bubble", "bubble_ratio", "peak_activations",
                      "peak_activation_bytes", "peak_activations_model_units",
                      "parameter_copies", "transfers", "transfer_bytes",
                      "ranks", "critical_path"}));
  EXPECT_EQ(report["name"].text, "train");
  EXPECT_EQ(report["schedule"].text, "dualpipe");
  EXPECT_EQ(report["num_ranks"].number, 8);
  EXPECT_EQ(report["num_stages"].number, 16);
  EXPECT_EQ(report["num_microbatches"].number, 20);
  EXPECT_EQ(report["num_directions"].number, 2);
  EXPECT_EQ(report["makespan"].number, 59);
  double totalBubble = 0;
  for (double bubble : kDualPipeBubbles)
    totalBubble += bubble;
  EXPECT_EQ(report["bubble"].number, totalBubble);
  EXPECT_EQ(report["busy"].number, 8 * 59 - totalBubble);
  EXPECT_DOUBLE_EQ(report["bubble_ratio"].number, totalBubble / (8 * 59));
  EXPECT_EQ(report["peak_activations"].number, 9);
  EXPECT_EQ(report["peak_activation_bytes"].number, 9 * 4096);
  EXPECT_EQ(report["peak_activations_model_units"].number, 9);
  EXPECT_EQ(report["parameter_copies"].number, 2);
  EXPECT_EQ(report["transfer_bytes"].number, 0); // no message sizes given

  const Json &ranks = report["ranks"];
  ASSERT_EQ(ranks.size(), 8u);
  for (size_t rank = 0; rank < 8; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const Json &entry = ranks[rank];
    EXPECT_EQ(entry["rank"].number, rank);
    EXPECT_EQ(entry["bubble"].number, kDualPipeBubbles[rank]);
    EXPECT_EQ(entry["busy"].number, 59 - kDualPipeBubbles[rank]);
    EXPECT_DOUBLE_EQ(entry["bubble_ratio"].number, kDualPipeBubbles[rank] / 59);
    EXPECT_EQ(entry["peak_activations"].number, 9);
    EXPECT_EQ(entry["peak_activation_bytes"].number, 9 * 4096);
    // Rank r holds stages r and 15 - r.
    ASSERT_EQ(entry["stages"].size(), 2u);
    EXPECT_EQ(entry["stages"][0].number, rank);
    EXPECT_EQ(entry["stages"][1].number, 15 - rank);
  }
  // DualPipe's largest bubble: (PP/2 - 1)(F&B + B - 3W).
  double largest = 0;
  for (size_t rank = 0; rank < 8; ++rank)
    largest = std::max(largest, ranks[rank]["bubble"].number);
  EXPECT_EQ(largest, (8 / 2 - 1) * (2.5 + 2 - 3 * 1));
}

TEST(ReportJsonTest, CriticalPathStepsChainToTheMakespan) {
  Json report = parsed(formatReportJson(dualPipe8x20()));
  const Json &path = report["critical_path"];
  const Json &steps = path["steps"];
  ASSERT_GT(steps.size(), 0u);
  EXPECT_EQ(steps[0]["start"].number, 0);
  EXPECT_EQ(steps[0]["cause"].text, "start");
  EXPECT_EQ(steps[steps.size() - 1]["end"].number, 59);
  int transfers = 0;
  bool sawPair = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Json &step = steps[i];
    EXPECT_EQ(step.keys().front(), "rank");
    if (i > 0) {
      // Zero latency: each step starts as the one before it ends.
      EXPECT_EQ(step["start"].number, steps[i - 1]["end"].number);
    }
    transfers += step["cause"].text == "transfer";
    if (step["kind"].text == "F&B") {
      sawPair = true;
      EXPECT_TRUE(step.has("stage2"));
      EXPECT_TRUE(step.has("microbatch2"));
      EXPECT_EQ(step["action"].text.front(), '(');
      EXPECT_EQ(step["end"].number - step["start"].number, 2.5);
    } else {
      EXPECT_FALSE(step.has("stage2"));
    }
  }
  EXPECT_TRUE(sawPair); // DualPipe's steady state is overlapped pairs
  EXPECT_EQ(path["rank_crossings"].number, transfers);
}

TEST(ReportJsonTest, StringsAreEscaped) {
  Schedule schedule = makeSchedule(1, 1, {{F(0, 0), B(0, 0)}});
  std::string name = "a\"b\\c\nd\te\x01"
                     "f/\xc3\xa9";
  schedule.name = name;
  schedule.kind = "k<&>";
  Json report =
      parsed(formatReportJson(simulated(schedule, uniformCosts(1, 1, 1, 1))));
  EXPECT_EQ(report["name"].text, name);
  EXPECT_EQ(report["schedule"].text, "k<&>");
  EXPECT_EQ(report["makespan"].number, 3);
}

//===----------------------------------------------------------------------===//
// Table
//===----------------------------------------------------------------------===//

TEST(ReportTableTest, OneRowPerRankWithTheFigures) {
  std::string table = formatReportTable(dualPipe8x20());
  EXPECT_TRUE(contains(table, "dualpipe @train: 8 ranks, 16 stages, 20 "
                              "micro-batches in 2 directions\n"));
  EXPECT_TRUE(contains(table, "makespan 59,"));
  std::map<int, std::vector<std::string>> rows;
  bool inRanks = false;
  for (const std::string &line : lines(table)) {
    std::vector<std::string> words = tokens(line);
    if (!words.empty() && words[0] == "rank" && words[1] == "stages") {
      EXPECT_EQ(words,
                (std::vector<std::string>{"rank", "stages", "actions", "busy",
                                          "bubble", "bubble", "%", "peak",
                                          "act", "peak", "act", "bytes"}));
      inRanks = true;
      continue;
    }
    if (words.empty())
      inRanks = false;
    if (inRanks)
      rows[std::stoi(words[0])] = words;
  }
  ASSERT_EQ(rows.size(), 8u);
  for (int rank = 0; rank < 8; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const std::vector<std::string> &row = rows[rank];
    ASSERT_EQ(row.size(), 8u);
    EXPECT_EQ(row[1], std::to_string(rank) + "," + std::to_string(15 - rank));
    EXPECT_EQ(std::stod(row[3]), 59 - kDualPipeBubbles[rank]);
    EXPECT_EQ(std::stod(row[4]), kDualPipeBubbles[rank]);
    EXPECT_EQ(row[6], "9");
    EXPECT_EQ(row[7], std::to_string(9 * 4096));
  }
  EXPECT_TRUE(contains(table, "critical path: "));
  EXPECT_TRUE(contains(table, " rank crossings\n"));
}

TEST(ReportTableTest, CriticalPathRunsOfTheHandTimedCase) {
  // Two-rank 1F1B (SimulatorTest's hand case): 0F0 | 1F0 .. 1B1 | 0B1.
  Schedule schedule = makeSchedule(2, 2,
                                   {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                                    {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}});
  std::string table =
      formatReportTable(simulated(schedule, uniformCosts(2, 1, 1, 1)));
  EXPECT_TRUE(contains(table, "critical path: 6 actions, 2 rank crossings\n"
                              "  rank  start  end  steps  actions\n"
                              "     0      0    1      1  0F0\n"
                              "     1      1    7      4  1F0 .. 1B1\n"
                              "     0      7    9      1  0B1\n"))
      << table;
}

// Two ranks passing each micro-batch through with no pipelining: every step
// waits for the other rank, so the path alternates 0F0 | 1F0 1B0 | 0B0 0F1
// | 1F1 1B1 | ... | 0B29: 1 + 30 + 29 + 1 = 61 runs; the table shows the
// first and last 20 and counts the 21 between. Each micro-batch takes
// 1 + 1 + 2 + 2, so 0B29 runs [178, 180].
TEST(ReportTableTest, LongCriticalPathsAreElided) {
  std::vector<std::vector<Action>> ranks(2);
  for (int mb = 0; mb < 30; ++mb) {
    ranks[0].push_back(F(0, mb));
    ranks[0].push_back(B(0, mb));
    ranks[1].push_back(F(1, mb));
    ranks[1].push_back(B(1, mb));
  }
  Simulation sim =
      simulated(makeSchedule(2, 30, ranks), uniformCosts(2, 1, 1, 1));
  EXPECT_EQ(sim.criticalPath.rankCrossings, 60);
  std::string table = formatReportTable(sim);
  std::vector<std::string> all = lines(table);
  auto header =
      std::find(all.begin(), all.end(), "  rank  start  end  steps  actions");
  ASSERT_NE(header, all.end()) << table;
  std::vector<std::string> rows(header + 1, all.end());
  ASSERT_EQ(rows.size(), 41u) << table;
  EXPECT_EQ(tokens(rows[0]),
            (std::vector<std::string>{"0", "0", "1", "1", "0F0"}));
  EXPECT_EQ(tokens(rows[20]),
            (std::vector<std::string>{"...", "21", "more", "runs"}));
  EXPECT_EQ(tokens(rows[40]),
            (std::vector<std::string>{"0", "178", "180", "1", "0B29"}));
}

TEST(ReportTest, EmptySimulationFormatsCleanly) {
  Simulation sim = simulated(makeSchedule(0, 0, {}), CostModel());
  EXPECT_TRUE(contains(formatReportTable(sim), "makespan 0,"));
  Json report = parsed(formatReportJson(sim));
  EXPECT_EQ(report["makespan"].number, 0);
  EXPECT_EQ(report["ranks"].size(), 0u);
  EXPECT_EQ(xmlProblems(formatSvgTimeline(sim)), "");
  Json trace = parsed(formatChromeTrace(sim));
  EXPECT_EQ(trace["traceEvents"].size(), 0u);
  Json comparison = parsed(formatComparisonJson({}));
  EXPECT_EQ(comparison["schedules"].size(), 0u);
}

//===----------------------------------------------------------------------===//
// SVG
//===----------------------------------------------------------------------===//

TEST(ReportSvgTest, DualPipeTimelineHasEveryCellRowAndLegend) {
  Simulation sim = dualPipe8x20();
  std::string svg = formatSvgTimeline(sim);
  EXPECT_EQ(xmlProblems(svg), "");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  for (int rank = 0; rank < 8; ++rank)
    EXPECT_EQ(occurrences(svg, ">rank " + std::to_string(rank) + "</text>"),
              1u);
  // One tooltip group per action.
  EXPECT_EQ(occurrences(svg, "<g><title>"),
            static_cast<size_t>(sim.numActions()));
  // Heavy outlines: one per overlapped pair, one in the legend.
  size_t pairs = 0;
  for (const RankResult &rank : sim.ranks)
    for (const TimedAction &timed : rank.timeline)
      pairs += timed.action.kind == ActionKind::OverlapFB;
  EXPECT_GT(pairs, 0u);
  EXPECT_EQ(occurrences(svg, "stroke=\"#111\" stroke-width=\"1.5\""),
            pairs + 1);
  // Critical path bars under each step, plus the legend's.
  EXPECT_EQ(occurrences(svg, "fill=\"#d62728\""),
            sim.criticalPath.steps.size() + 1);
  // Both directions' shades of F appear; the legend explains them.
  EXPECT_GT(occurrences(svg, "fill=\"#f9c784\""), 1u);
  EXPECT_GT(occurrences(svg, "fill=\"#d9651e\""), 1u);
  EXPECT_TRUE(contains(svg, "dark: direction 1 (stages 8..15)"));
  for (const char *caption :
       {">forward (F)<", ">backward (B)<", ">backward for input (I)<",
        ">backward for weights (W)<", ">overlapped F&amp;B pair",
        ">critical path<", ">idle<"})
    EXPECT_TRUE(contains(svg, caption));
  EXPECT_TRUE(contains(svg, ">bubble 3.5</text>"));
  EXPECT_TRUE(contains(svg, ">bubble 4.5</text>"));
  EXPECT_TRUE(contains(svg, "dualpipe @train: 8 ranks, 20 micro-batches, "
                            "makespan 59"));
  EXPECT_TRUE(contains(svg, "<title>rank 0: 0F0, 0 - 1</title>"));
}

TEST(ReportSvgTest, OptionsScaleTitleAndMarking) {
  Simulation sim = dualPipe8x20();
  SvgOptions options;
  options.pixelsPerUnit = 10;
  options.markCriticalPath = false;
  options.title = "<DualPipe & friends>";
  std::string svg = formatSvgTimeline(sim, options);
  EXPECT_EQ(xmlProblems(svg), "");
  // 64 px of rank labels, 59 units at 10 px, 96 px of bubble labels.
  EXPECT_TRUE(contains(svg, "width=\"750\""));
  EXPECT_EQ(occurrences(svg, "#d62728"), 0u);
  EXPECT_TRUE(contains(svg, ">&lt;DualPipe &amp; friends&gt;</text>"));
}

TEST(ReportSvgTest, VShapesShadeEachRanksSecondStageDark) {
  Schedule schedule = generated(ScheduleKind::ZeroBubbleV, 4, 8);
  std::string svg =
      formatSvgTimeline(simulated(schedule, uniformCosts(8, 1, 1, 1)));
  EXPECT_EQ(xmlProblems(svg), "");
  // Rank 0 runs stages 0 and 7: its first forward is light, 7F0 dark.
  EXPECT_TRUE(contains(svg, "<title>rank 0: 0F0, 0 - 1</title><rect x=\"64\" "
                            "y=\"36\" width=\""));
  size_t cell = svg.find("<title>rank 0: 7F0,");
  ASSERT_NE(cell, std::string::npos);
  EXPECT_TRUE(contains(svg.substr(cell, 200), "fill=\"#d9651e\""));
  cell = svg.find("<title>rank 0: 0F0,");
  EXPECT_TRUE(contains(svg.substr(cell, 200), "fill=\"#f9c784\""));
  EXPECT_TRUE(contains(svg, "light: each rank&apos;s first stage, dark: its "
                            "second (rank 0: stages 0, 7)"));
}

TEST(ReportSvgTest, SingleDirectionUsesLightShadesOnly) {
  Schedule schedule = generated(ScheduleKind::ZeroBubbleH1, 4, 8);
  std::string svg =
      formatSvgTimeline(simulated(schedule, uniformCosts(4, 1, 1, 1)));
  EXPECT_EQ(xmlProblems(svg), "");
  EXPECT_EQ(occurrences(svg, "#d9651e"), 0u);
  EXPECT_FALSE(contains(svg, "direction 1"));
  EXPECT_FALSE(contains(svg, "overlapped"));
  EXPECT_FALSE(contains(svg, "backward (B)")); // ZB-H1 splits every backward
  EXPECT_TRUE(contains(svg, ">backward for input (I)<"));
}

//===----------------------------------------------------------------------===//
// Chrome trace
//===----------------------------------------------------------------------===//

/// Events with ph == `phase`.
std::vector<const Json *> eventsOf(const Json &trace,
                                   const std::string &phase) {
  std::vector<const Json *> events;
  const Json &all = trace["traceEvents"];
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i]["ph"].text == phase)
      events.push_back(&all[i]);
  return events;
}

/// Slices on one (pid, tid) must nest or be disjoint for the viewers.
void expectNoPartialOverlap(const Json &trace) {
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> lanes;
  for (const Json *event : eventsOf(trace, "X"))
    lanes[{static_cast<int>((*event)["pid"].number),
           static_cast<int>((*event)["tid"].number)}]
        .push_back({(*event)["ts"].number,
                    (*event)["ts"].number + (*event)["dur"].number});
  for (auto &[lane, slices] : lanes) {
    std::sort(slices.begin(), slices.end());
    for (size_t i = 1; i < slices.size(); ++i)
      EXPECT_LE(slices[i - 1].second, slices[i].first)
          << "pid " << lane.first << " tid " << lane.second;
  }
}

/// The two-rank 1F1B with latency 0.5, 100-byte activations (1.5 per
/// transfer) and 300-byte gradients (3.5), as SimulatorTest times it.
Simulation twoRankWithTransfers(bool freeTransfers = false) {
  Schedule schedule = makeSchedule(2, 2,
                                   {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                                    {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}});
  CostModel costs = uniformCosts(2, 1, 1, 1);
  if (!freeTransfers) {
    costs.p2pLatency = 0.5;
    costs.p2pBandwidth = 100;
  }
  costs.stages[0].activationBytes = 100;
  costs.stages[1].gradientBytes = 300;
  return simulated(schedule, costs);
}

TEST(ChromeTraceTest, ComputeAndCommSlicesInMicroseconds) {
  Json trace = parsed(formatChromeTrace(twoRankWithTransfers()));
  EXPECT_EQ(trace.keys(),
            (std::vector<std::string>{"traceEvents", "displayTimeUnit"}));
  EXPECT_EQ(trace["displayTimeUnit"].text, "ms");

  std::map<std::pair<int, int>, std::string> threadNames;
  std::map<int, std::string> processNames;
  for (const Json *event : eventsOf(trace, "M")) {
    int pid = (*event)["pid"].number;
    if ((*event)["name"].text == "process_name")
      processNames[pid] = (*event)["args"]["name"].text;
    if ((*event)["name"].text == "thread_name")
      threadNames[{pid, static_cast<int>((*event)["tid"].number)}] =
          (*event)["args"]["name"].text;
  }
  EXPECT_EQ(processNames,
            (std::map<int, std::string>{{0, "rank 0"}, {1, "rank 1"}}));
  EXPECT_EQ(threadNames[std::make_pair(0, 0)], "compute");
  EXPECT_EQ(threadNames[std::make_pair(0, 1)], "comm");
  EXPECT_EQ(threadNames[std::make_pair(1, 1)], "comm");

  // 0B1 ran [12, 14] on rank 0: 1 unit = 1000 us.
  std::vector<const Json *> slices = eventsOf(trace, "X");
  int compute = 0, comm = 0;
  bool sawLastBackward = false, sawGradient = false;
  for (const Json *event : slices) {
    const Json &e = *event;
    if (e["tid"].number == 0) {
      ++compute;
      if (e["name"].text == "0B1") {
        sawLastBackward = true;
        EXPECT_EQ(e["pid"].number, 0);
        EXPECT_EQ(e["ts"].number, 12000);
        EXPECT_EQ(e["dur"].number, 2000);
        EXPECT_EQ(e["args"]["stage"].number, 0);
        EXPECT_EQ(e["args"]["mb"].number, 1);
        EXPECT_EQ(e["args"]["kind"].text, "B");
        EXPECT_EQ(e["args"]["critical"].boolean, true);
      }
    } else {
      ++comm;
      const Json &args = e["args"];
      if (args["kind"].text == "gradient" && args["mb"].number == 1) {
        // 1B1 ended at 8.5 on rank 1 and reached rank 0 at 12.
        sawGradient = true;
        EXPECT_EQ(e["name"].text, "gradient s1 mb1 -> rank 0");
        EXPECT_EQ(e["cat"].text, "gradient");
        EXPECT_EQ(e["pid"].number, 1);
        EXPECT_EQ(e["ts"].number, 8500);
        EXPECT_EQ(e["dur"].number, 3500);
        EXPECT_EQ(args["to"].number, 0);
        EXPECT_EQ(args["bytes"].number, 300);
        EXPECT_EQ(args["stage"].number, 1);
      }
    }
  }
  EXPECT_EQ(compute, 8);
  EXPECT_EQ(comm, 4);
  EXPECT_TRUE(sawLastBackward);
  EXPECT_TRUE(sawGradient);
  expectNoPartialOverlap(trace);
}

TEST(ChromeTraceTest, TimeScaleIsConfigurable) {
  ChromeTraceOptions options;
  options.microsecondsPerUnit = 1;
  Json trace = parsed(formatChromeTrace(twoRankWithTransfers(), options));
  for (const Json *event : eventsOf(trace, "X"))
    if ((*event)["name"].text == "0B1") {
      EXPECT_EQ((*event)["ts"].number, 12);
      EXPECT_EQ((*event)["dur"].number, 2);
    }
}

/// (pid, tid) of every thread named `name`.
std::vector<std::pair<int, int>> threadsNamed(const Json &trace,
                                              const std::string &name) {
  std::vector<std::pair<int, int>> threads;
  for (const Json *event : eventsOf(trace, "M"))
    if ((*event)["name"].text == "thread_name" &&
        (*event)["args"]["name"].text == name)
      threads.push_back({static_cast<int>((*event)["pid"].number),
                         static_cast<int>((*event)["tid"].number)});
  return threads;
}

TEST(ChromeTraceTest, OverlappingTransfersGetTheirOwnLane) {
  // Rank 0 sends 0F0 at 1 (there at 2.5) and 0F1 at 2; rank 1 sends 1B0 at
  // 5.5 (there at 9) and 1B1 at 8.5: each rank has two in flight at once.
  Json trace = parsed(formatChromeTrace(twoRankWithTransfers()));
  EXPECT_EQ(threadsNamed(trace, "comm 2"),
            (std::vector<std::pair<int, int>>{{0, 2}, {1, 2}}));
  int secondLane = 0;
  for (const Json *event : eventsOf(trace, "X"))
    secondLane += (*event)["tid"].number == 2;
  EXPECT_EQ(secondLane, 2);
  expectNoPartialOverlap(trace);

  // Free transfers take no time and never overlap.
  Json free = parsed(formatChromeTrace(twoRankWithTransfers(true)));
  EXPECT_TRUE(threadsNamed(free, "comm 2").empty());
  EXPECT_EQ(threadsNamed(free, "comm").size(), 2u);
}

TEST(ChromeTraceTest, DualPipePairsAndCriticalFlags) {
  Simulation sim = dualPipe8x20();
  Json trace = parsed(formatChromeTrace(sim));
  std::vector<const Json *> slices = eventsOf(trace, "X");
  size_t compute = 0, critical = 0, pairs = 0;
  for (const Json *event : slices) {
    const Json &e = *event;
    if (e["tid"].number != 0)
      continue;
    ++compute;
    critical += e["args"]["critical"].boolean;
    if (e["args"]["kind"].text == "F&B") {
      ++pairs;
      EXPECT_EQ(e["dur"].number, 2500);
      EXPECT_TRUE(e["args"].has("stage2"));
      EXPECT_TRUE(e["args"].has("mb2"));
    }
  }
  EXPECT_EQ(compute, static_cast<size_t>(sim.numActions()));
  EXPECT_EQ(critical, sim.criticalPath.steps.size());
  EXPECT_GT(pairs, 0u);
  expectNoPartialOverlap(trace);
}

//===----------------------------------------------------------------------===//
// Comparison
//===----------------------------------------------------------------------===//

std::vector<ComparisonRow> eightRankComparison() {
  std::vector<ComparisonRow> rows;
  for (ScheduleKind kind : {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubbleH1,
                            ScheduleKind::DualPipe}) {
    Schedule schedule = generated(kind, 8, 20);
    CostModel costs = uniformCosts(schedule.numStages, 1, 1, 1, 2.5);
    for (StageCost &stage : costs.stages)
      stage.activationMemory = 100;
    rows.push_back(summarize(simulated(schedule, costs)));
  }
  return rows;
}

// 8 ranks, 20 micro-batches, F = I = W = 1: 1F1B takes (20 + 7) * 3 with
// bubble 7 * 3 per rank; ZB-H1 20 * 3 + 7 * (1 + 2 - 2) with bubble 7;
// DualPipe 59 with bubbles summing to 33.
TEST(ComparisonTest, JsonRowsCarryEachSchedulesFigures) {
  Json json = parsed(formatComparisonJson(eightRankComparison()));
  const Json &rows = json["schedules"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].keys(),
            (std::vector<std::string>{
                "label", "schedule", "ranks", "microbatches", "makespan",
                "bubble_ratio", "peak_activations",
                "peak_activations_model_units", "peak_activation_bytes",
                "parameter_copies", "critical_path_crossings"}));
  EXPECT_EQ(rows[0]["label"].text, "1f1b");
  EXPECT_EQ(rows[0]["makespan"].number, 81);
  EXPECT_DOUBLE_EQ(rows[0]["bubble_ratio"].number, 21.0 / 81);
  EXPECT_EQ(rows[0]["peak_activations"].number, 8);
  EXPECT_EQ(rows[0]["peak_activation_bytes"].number, 800);
  EXPECT_EQ(rows[0]["parameter_copies"].number, 1);

  EXPECT_EQ(rows[1]["label"].text, "zb-h1");
  EXPECT_EQ(rows[1]["makespan"].number, 67);
  EXPECT_DOUBLE_EQ(rows[1]["bubble_ratio"].number, 7.0 / 67);

  EXPECT_EQ(rows[2]["label"].text, "dualpipe");
  EXPECT_EQ(rows[2]["ranks"].number, 8);
  EXPECT_EQ(rows[2]["microbatches"].number, 20);
  EXPECT_EQ(rows[2]["makespan"].number, 59);
  EXPECT_DOUBLE_EQ(rows[2]["bubble_ratio"].number, 33.0 / (8 * 59));
  EXPECT_EQ(rows[2]["peak_activations"].number, 9);
  EXPECT_EQ(rows[2]["peak_activations_model_units"].number, 9);
  EXPECT_EQ(rows[2]["peak_activation_bytes"].number, 900);
  EXPECT_EQ(rows[2]["parameter_copies"].number, 2);
}

TEST(ComparisonTest, TableHasAHeaderAndOneLinePerSchedule) {
  std::vector<ComparisonRow> rows = eightRankComparison();
  rows[2].label = "dualpipe (8x20)";
  std::vector<std::string> text = lines(formatComparisonTable(rows));
  ASSERT_EQ(text.size(), 5u); // header, 3 rows, units
  EXPECT_EQ(tokens(text[0]),
            (std::vector<std::string>{"schedule", "ranks", "micro-batches",
                                      "makespan", "bubble", "peak", "act",
                                      "act", "(model/R)", "act", "bytes",
                                      "param", "copies"}));
  EXPECT_EQ(tokens(text[1]),
            (std::vector<std::string>{"1f1b", "8", "20", "81", "25.93%", "8",
                                      "8", "800", "1"}));
  EXPECT_EQ(tokens(text[2])[3], "67");
  // 33 / 472 = 6.99%.
  EXPECT_EQ(tokens(text[3]),
            (std::vector<std::string>{"dualpipe", "(8x20)", "8", "20", "59",
                                      "6.99%", "9", "9", "900", "2"}));
  EXPECT_EQ(text[3].rfind("dualpipe (8x20)", 0), 0u);
  EXPECT_TRUE(contains(text[4], "param copies: parameters per rank"));
  // Columns line up: every row is as wide as the header.
  EXPECT_EQ(text[1].size(), text[0].size());
  EXPECT_EQ(text[3].size(), text[0].size());
}

} // namespace
