//===- DualPipeTest.cpp - DualPipe and DualPipeV generators ---------------===//
//
// Expectations come from outside the generator:
//  - DeepSeek's reference order for DualPipe (8 ranks, 20 micro-batches) and
//    DualPipeV (4 ranks, 10 micro-batches), fixtures/*.csv;
//  - small cases worked out by hand from the reference's step() code;
//  - a grid of sizes produced by test/unit/oracle/dualpipe_oracle.py, a
//    hand-written Python replay of the reference's control flow, committed
//    under fixtures/oracle/ (CSV for small sizes, a digest for all);
//  - properties any correct DualPipe order has (placement, one F and one
//    B-or-I(+W) per stage and micro-batch, causal order, executable as
//    dataflow) and the counts the reference's loop bounds imply.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include "passes/Schedule/DualPipe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {

/// PyTorch's action CSV: one line per rank, cells joined by ','.
std::string csvOf(const Schedule &schedule) {
  std::string text;
  for (const std::vector<Action> &actions : schedule.ranks)
    text += joined(actions) + "\n";
  return text;
}

std::vector<std::string> splitOn(const std::string &text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(text);
  while (std::getline(stream, part, separator))
    parts.push_back(part);
  return parts;
}

/// Empty if equal, else where the first difference is ("rank 3, cell 7:
/// got 3F4, want 12B0"), which reads better than two long lines.
std::string firstDifference(const std::string &got, const std::string &want) {
  if (got == want)
    return "";
  std::vector<std::string> gotLines = splitOn(got, '\n');
  std::vector<std::string> wantLines = splitOn(want, '\n');
  for (size_t rank = 0; rank < std::max(gotLines.size(), wantLines.size());
       ++rank) {
    std::vector<std::string> gotCells, wantCells;
    if (rank < gotLines.size())
      gotCells = splitOn(gotLines[rank], ',');
    if (rank < wantLines.size())
      wantCells = splitOn(wantLines[rank], ',');
    for (size_t cell = 0; cell < std::max(gotCells.size(), wantCells.size());
         ++cell) {
      std::string gotCell = cell < gotCells.size() ? gotCells[cell] : "<end>";
      std::string wantCell =
          cell < wantCells.size() ? wantCells[cell] : "<end>";
      if (gotCell != wantCell)
        return "rank " + std::to_string(rank) + ", cell " +
               std::to_string(cell) + ": got " + gotCell + ", want " + wantCell;
    }
  }
  return "texts differ outside the cells (line endings?)";
}

/// 64-bit FNV-1a, as the oracle's manifest records it.
uint64_t fnv1a64(const std::string &text) {
  uint64_t digest = 0xcbf29ce484222325ULL;
  for (unsigned char byte : text) {
    digest ^= byte;
    digest *= 0x100000001b3ULL;
  }
  return digest;
}

struct Size {
  bool isV; // DualPipeV rather than DualPipe
  int ranks;
  int microbatches;
};

std::string describe(const Size &size) {
  return std::string(size.isV ? "dualpipev" : "dualpipe") +
         " R=" + std::to_string(size.ranks) +
         " N=" + std::to_string(size.microbatches);
}

Schedule generate(const Size &size) {
  return size.isV ? generateDualPipeV(size.ranks, size.microbatches)
                  : generateDualPipe(size.ranks, size.microbatches);
}

/// The grid the brief requires, and then some: DualPipe for every even R in
/// 2..16 with N in {2R, 2R+2, 3R (even only), 4R, 64}; DualPipeV for every R in
/// 1..16 with N in {2R, 2R+1, 3R, 4R}.
std::vector<Size> requiredGrid() {
  std::vector<Size> sizes;
  for (int ranks = 2; ranks <= 16; ranks += 2)
    for (int mbs : std::set<int>{2 * ranks, 2 * ranks + 2, 4 * ranks, 64,
                                 3 * ranks % 2 == 0 ? 3 * ranks : 4 * ranks})
      sizes.push_back({false, ranks, mbs});
  for (int ranks = 1; ranks <= 16; ++ranks)
    for (int mbs :
         std::set<int>{2 * ranks, 2 * ranks + 1, 3 * ranks, 4 * ranks})
      sizes.push_back({true, ranks, mbs});
  return sizes;
}

/// Every size the references accept up to 8 ranks and 4R+2 micro-batches,
/// then the required grid up to 16 ranks (kept small for Debug builds).
std::vector<Size> propertyGrid() {
  std::vector<Size> sizes;
  for (int ranks = 2; ranks <= 8; ranks += 2)
    for (int mbs = 2 * ranks; mbs <= 4 * ranks + 2; mbs += 2)
      sizes.push_back({false, ranks, mbs});
  for (int ranks = 1; ranks <= 8; ++ranks)
    for (int mbs = 2 * ranks; mbs <= 4 * ranks + 2; ++mbs)
      sizes.push_back({true, ranks, mbs});
  for (const Size &size : requiredGrid())
    if (size.ranks > 8)
      sizes.push_back(size);
  return sizes;
}

//===----------------------------------------------------------------------===//
// Independent structural checks
//===----------------------------------------------------------------------===//

/// The compute steps an action stands for (an overlapped pair is two).
std::vector<Action> partsOf(const Action &action) {
  if (action.kind != ActionKind::OverlapFB)
    return {action};
  return {Action::forward(action.stage, action.microbatch),
          Action::backward(action.stage2, action.microbatch2)};
}

/// Stage chains as the brief defines them, computed here rather than taken
/// from the library: DualPipe has two chains of R stages, DualPipeV one of
/// 2R.
struct Chains {
  int stagesPerChain;
  bool isFirst(int stage) const { return stage % stagesPerChain == 0; }
  bool isLast(int stage) const {
    return stage % stagesPerChain == stagesPerChain - 1;
  }
};

Chains chainsOf(const Size &size) {
  return {size.isV ? 2 * size.ranks : size.ranks};
}

/// Placement, counts and per-rank causal order; returns the problems found.
std::vector<std::string> structuralProblems(const Size &size,
                                            const Schedule &schedule) {
  std::vector<std::string> problems;
  int ranks = size.ranks;
  int mbsPerStage = size.isV ? size.microbatches : size.microbatches / 2;
  // (stage, mb) -> index in the rank's list of parts, per kind.
  using Key = std::pair<int, int>;
  std::map<Key, int> forwardAt, gradAt, weightAt;
  std::set<Key> splitKeys;
  for (int rank = 0; rank < ranks; ++rank) {
    int part = 0;
    std::map<int, int> lastForwardMb, lastGradMb;
    for (const Action &action : schedule.ranks[rank]) {
      if (action.kind == ActionKind::OverlapFB && action.stage == action.stage2)
        problems.push_back("overlapped pair within one stage: " + action.str());
      for (const Action &step : partsOf(action)) {
        ++part;
        std::string where =
            "rank " + std::to_string(rank) + " " + step.str() + ": ";
        if (step.stage != rank && step.stage != 2 * ranks - 1 - rank)
          problems.push_back(where + "stage not held by this rank");
        if (step.microbatch < 0 || step.microbatch >= mbsPerStage)
          problems.push_back(where + "micro-batch out of range");
        Key key{step.stage, step.microbatch};
        switch (step.kind) {
        case ActionKind::Forward:
          if (!forwardAt.emplace(key, part).second)
            problems.push_back(where + "second forward");
          // The reference takes micro-batches in order within a stage.
          if (lastForwardMb.count(step.stage) &&
              lastForwardMb[step.stage] != step.microbatch - 1)
            problems.push_back(where + "forward out of order");
          lastForwardMb[step.stage] = step.microbatch;
          break;
        case ActionKind::Backward:
        case ActionKind::BackwardInput:
          if (!gradAt.emplace(key, part).second)
            problems.push_back(where + "second backward");
          if (!forwardAt.count(key))
            problems.push_back(where + "backward before its forward");
          if (step.kind == ActionKind::BackwardInput)
            splitKeys.insert(key);
          if (lastGradMb.count(step.stage) &&
              lastGradMb[step.stage] != step.microbatch - 1)
            problems.push_back(where + "backward out of order");
          lastGradMb[step.stage] = step.microbatch;
          break;
        case ActionKind::BackwardWeight:
          if (!weightAt.emplace(key, part).second)
            problems.push_back(where + "second W");
          if (!splitKeys.count(key))
            problems.push_back(where + "W without an earlier I");
          break;
        default:
          problems.push_back(where + "unexpected action kind");
        }
      }
    }
  }
  int expected = 2 * ranks * mbsPerStage;
  if ((int)forwardAt.size() != expected || (int)gradAt.size() != expected)
    problems.push_back("missing forwards or backwards");
  if (weightAt.size() != splitKeys.size())
    problems.push_back("an I without its W");
  return problems;
}

/// Runs every rank's list as dataflow (F needs the previous stage's F; B/I
/// need their F and the next stage's B/I; W needs its I; an overlapped pair
/// needs both parts' inputs) until done or stuck. Returns "" when all
/// actions ran, else where each rank got stuck.
std::string dataflowStuck(const Size &size, const Schedule &schedule) {
  Chains chains = chainsOf(size);
  using Key = std::pair<int, int>;
  std::set<Key> forwardDone, gradDone, inputGradDone;
  auto ready = [&](const Action &step) {
    Key key{step.stage, step.microbatch};
    switch (step.kind) {
    case ActionKind::Forward:
      return chains.isFirst(step.stage) ||
             forwardDone.count({step.stage - 1, step.microbatch}) > 0;
    case ActionKind::Backward:
    case ActionKind::BackwardInput:
      return forwardDone.count(key) > 0 &&
             (chains.isLast(step.stage) ||
              gradDone.count({step.stage + 1, step.microbatch}) > 0);
    default: // W
      return inputGradDone.count(key) > 0;
    }
  };
  std::vector<size_t> next(size.ranks, 0);
  for (bool moved = true; moved;) {
    moved = false;
    for (int rank = 0; rank < size.ranks; ++rank) {
      const std::vector<Action> &actions = schedule.ranks[rank];
      while (next[rank] < actions.size()) {
        std::vector<Action> parts = partsOf(actions[next[rank]]);
        bool allReady = true;
        for (const Action &step : parts)
          allReady = allReady && ready(step);
        if (!allReady)
          break;
        for (const Action &step : parts) {
          Key key{step.stage, step.microbatch};
          if (step.kind == ActionKind::Forward)
            forwardDone.insert(key);
          if (step.kind == ActionKind::Backward ||
              step.kind == ActionKind::BackwardInput)
            gradDone.insert(key);
          if (step.kind == ActionKind::BackwardInput)
            inputGradDone.insert(key);
        }
        ++next[rank];
        moved = true;
      }
    }
  }
  std::string stuck;
  for (int rank = 0; rank < size.ranks; ++rank)
    if (next[rank] < schedule.ranks[rank].size())
      stuck += "rank " + std::to_string(rank) + " at " +
               schedule.ranks[rank][next[rank]].str() + "; ";
  return stuck;
}

int countOf(const std::vector<Action> &actions, ActionKind kind) {
  int count = 0;
  for (const Action &action : actions)
    count += action.kind == kind;
  return count;
}

} // namespace

//===----------------------------------------------------------------------===//
// DeepSeek's reference orders
//===----------------------------------------------------------------------===//

TEST(DualPipeTest, MatchesDeepSeekDualPipeR8N20) {
  std::string want = readFixture("dualpipe_r8_mb20.csv");
  ASSERT_FALSE(want.empty());
  std::string got = csvOf(generateDualPipe(8, 20));
  EXPECT_EQ(firstDifference(got, want), "");
  EXPECT_EQ(got, want);
}

TEST(DualPipeTest, MatchesDeepSeekDualPipeVR4N10) {
  std::string want = readFixture("dualpipev_r4_mb10.csv");
  ASSERT_FALSE(want.empty());
  std::string got = csvOf(generateDualPipeV(4, 10));
  EXPECT_EQ(firstDifference(got, want), "");
  EXPECT_EQ(got, want);
}

TEST(DualPipeTest, ScheduleFields) {
  Schedule dual = generateDualPipe(4, 10);
  EXPECT_EQ(dual.kind, "dualpipe");
  EXPECT_EQ(dual.numRanks, 4);
  EXPECT_EQ(dual.numStages, 8);
  EXPECT_EQ(dual.numMicrobatches, 10);
  EXPECT_EQ(dual.numDirections, 2);
  EXPECT_EQ(dual.ranks.size(), 4u);

  Schedule v = generateDualPipeV(3, 7);
  EXPECT_EQ(v.kind, "dualpipev");
  EXPECT_EQ(v.numRanks, 3);
  EXPECT_EQ(v.numStages, 6);
  EXPECT_EQ(v.numMicrobatches, 7);
  EXPECT_EQ(v.numDirections, 1);
  EXPECT_EQ(v.ranks.size(), 3u);
}

//===----------------------------------------------------------------------===//
// Small cases worked out by hand from the reference's step()
//===----------------------------------------------------------------------===//

// One rank is its own turn rank: step 2 runs F0 F1, step 4 runs once with
// its first pair not overlapped, step 6 runs B then a split backward, and
// step 8 drains the one W.
TEST(DualPipeTest, DualPipeVOneRankByHand) {
  Schedule schedule = generateDualPipeV(1, 2);
  ASSERT_EQ(schedule.ranks.size(), 1u);
  EXPECT_EQ(schedule.ranks[0],
            (std::vector<Action>{F(0, 0), F(1, 0), F(0, 1), B(1, 0),
                                 FB(1, 1, 0, 0), B(1, 1), I(0, 1), W(0, 1)}));
}

// Both ranks are middle ranks. Rank 1 is in the second half, so its phase 0
// is the direction-1 stage 2.
TEST(DualPipeTest, DualPipeTwoRanksByHand) {
  Schedule schedule = generateDualPipe(2, 4);
  ASSERT_EQ(schedule.ranks.size(), 2u);
  EXPECT_EQ(schedule.ranks[0],
            (std::vector<Action>{F(0, 0), F(3, 0), F(0, 1), B(3, 0),
                                 FB(3, 1, 0, 0), B(3, 1), I(0, 1), W(0, 1)}));
  EXPECT_EQ(schedule.ranks[1],
            (std::vector<Action>{F(2, 0), F(1, 0), F(2, 1), B(1, 0),
                                 FB(1, 1, 2, 0), B(1, 1), I(2, 1), W(2, 1)}));
}

// Rank 0 of DualPipeV with 2 ranks and 5 micro-batches: 2 warm-up F0, one
// F0 F1 pair, one I-W-F of step 3, two main iterations (not a turn rank, so
// both pairs overlapped), step 5's B1 + pair, step 6's B1 then split I0,
// step 7's W + I0, step 8's last W.
TEST(DualPipeTest, DualPipeVRankZeroByHand) {
  Schedule schedule = generateDualPipeV(2, 5);
  EXPECT_EQ(schedule.ranks[0],
            (std::vector<Action>{F(0, 0), F(0, 1), F(0, 2), F(3, 0), I(3, 0),
                                 W(3, 0), F(3, 1), FB(0, 3, 3, 1),
                                 FB(3, 2, 0, 0), FB(0, 4, 3, 2), FB(3, 3, 0, 1),
                                 B(3, 3), FB(3, 4, 0, 2), B(3, 4), I(0, 3),
                                 W(0, 3), I(0, 4), W(0, 4)}));
}

//===----------------------------------------------------------------------===//
// Oracle grid
//===----------------------------------------------------------------------===//

namespace {
struct OracleEntry {
  Size size;
  uint64_t digest;
  std::string csvFile; // "-" when only the digest is committed
};

std::vector<OracleEntry> readManifest() {
  std::vector<OracleEntry> entries;
  std::istringstream lines(readFixture("oracle/manifest.txt"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream fields(line);
    std::string kind, digest;
    OracleEntry entry;
    fields >> kind >> entry.size.ranks >> entry.size.microbatches >> digest >>
        entry.csvFile;
    entry.size.isV = kind == "dualpipev";
    entry.digest = std::stoull(digest, nullptr, 16);
    entries.push_back(entry);
  }
  return entries;
}
} // namespace

TEST(DualPipeTest, OracleManifestCoversRequiredGrid) {
  std::set<std::tuple<bool, int, int>> listed;
  for (const OracleEntry &entry : readManifest())
    listed.insert({entry.size.isV, entry.size.ranks, entry.size.microbatches});
  ASSERT_FALSE(listed.empty()) << "cannot read fixtures/oracle/manifest.txt";
  for (const Size &size : requiredGrid())
    EXPECT_TRUE(listed.count({size.isV, size.ranks, size.microbatches}))
        << describe(size) << " missing from the oracle manifest";
}

// On a mismatch, regenerate the expected text with
//   test/unit/oracle/dualpipe_oracle.py dualpipe|dualpipev R N
TEST(DualPipeTest, MatchesOracleGrid) {
  int csvCompared = 0;
  for (const OracleEntry &entry : readManifest()) {
    SCOPED_TRACE(describe(entry.size));
    std::string got = csvOf(generate(entry.size));
    if (entry.csvFile != "-") {
      std::string want = readFixture("oracle/" + entry.csvFile);
      ASSERT_FALSE(want.empty()) << "cannot read oracle/" << entry.csvFile;
      EXPECT_EQ(firstDifference(got, want), "");
      ++csvCompared;
    }
    EXPECT_EQ(fnv1a64(got), entry.digest);
  }
  EXPECT_GT(csvCompared, 0);
}

//===----------------------------------------------------------------------===//
// Properties over the property grid
//===----------------------------------------------------------------------===//

TEST(DualPipeTest, StructureOnPropertyGrid) {
  for (const Size &size : propertyGrid()) {
    SCOPED_TRACE(describe(size));
    Schedule schedule = generate(size);
    ASSERT_EQ((int)schedule.ranks.size(), size.ranks);
    std::vector<std::string> problems = structuralProblems(size, schedule);
    EXPECT_TRUE(problems.empty()) << problems.front();
  }
}

TEST(DualPipeTest, RunsAsDataflowOnPropertyGrid) {
  for (const Size &size : propertyGrid()) {
    SCOPED_TRACE(describe(size));
    EXPECT_EQ(dataflowStuck(size, generate(size)), "");
  }
}

// Counts implied by the reference's loop bounds. With span S (R/2 for
// DualPipe, R for DualPipeV), position p (min(r, R-1-r), or r), C
// micro-batches per stage (N/2, or N) and k = S-p-1:
//  - overlapped pairs = 2 * (C-2S+p+1) [step 4] + k [step 5], less one on
//    the turn rank (p = S-1), whose first step-4 pair is not overlapped:
//    2C - 3S + p + 1 - [p == S-1];
//  - split backwards (I, and as many W) = k [step 3] + (p+1) [the later half
//    of step 6's 2(p+1)] + k [step 7] = 2S - p - 1;
//  - full backwards outside pairs: 1 on the turn rank [step 4] + k [step 5]
//    + (p+1) [step 6].
TEST(DualPipeTest, CountsFollowReferenceLoopBounds) {
  for (const Size &size : propertyGrid()) {
    Schedule schedule = generate(size);
    int span = size.isV ? size.ranks : size.ranks / 2;
    int perStage = size.isV ? size.microbatches : size.microbatches / 2;
    for (int rank = 0; rank < size.ranks; ++rank) {
      SCOPED_TRACE(describe(size) + " rank " + std::to_string(rank));
      int position = size.isV ? rank : std::min(rank, size.ranks - 1 - rank);
      bool isTurnRank = position == span - 1;
      int toTurn = span - position - 1;
      const std::vector<Action> &actions = schedule.ranks[rank];
      EXPECT_EQ(countOf(actions, ActionKind::OverlapFB),
                2 * perStage - 3 * span + position + 1 - (isTurnRank ? 1 : 0));
      EXPECT_EQ(countOf(actions, ActionKind::BackwardInput),
                2 * span - position - 1);
      EXPECT_EQ(countOf(actions, ActionKind::BackwardWeight),
                2 * span - position - 1);
      EXPECT_EQ(countOf(actions, ActionKind::Backward),
                (isTurnRank ? 1 : 0) + toTurn + position + 1);
    }
  }
}

// The middle ranks (DualPipe) and the last rank (DualPipeV) run the first
// main-step pair apart: a forward of the stage they see first, then a full
// backward of the other stage, just before the first overlapped pair.
TEST(DualPipeTest, TurnRanksSplitTheirFirstPair) {
  Schedule dual = generateDualPipe(8, 20);
  for (int rank : {3, 4}) {
    const std::vector<Action> &actions = dual.ranks[rank];
    size_t firstPair = 0;
    while (actions[firstPair].kind != ActionKind::OverlapFB)
      ++firstPair;
    ASSERT_GE(firstPair, 2u);
    EXPECT_EQ(actions[firstPair - 2].kind, ActionKind::Forward);
    EXPECT_EQ(actions[firstPair - 1].kind, ActionKind::Backward);
    EXPECT_NE(actions[firstPair - 2].stage, actions[firstPair - 1].stage);
  }
  Schedule v = generateDualPipeV(4, 10);
  EXPECT_EQ(joined(std::vector<Action>(v.ranks[3].begin() + 8,
                                       v.ranks[3].begin() + 11)),
            "3F4,4B0,(4F4;3B0)OVERLAP_F_B");
}

//===----------------------------------------------------------------------===//
// Agreement with the rest of the schedule library
//===----------------------------------------------------------------------===//

// The generated orders pass the library's validator and deadlock check, also
// after communication is inserted, and print as the DeepSeek fixtures.
TEST(DualPipeTest, PassesLibraryChecks) {
  std::vector<Size> sizes = {{false, 2, 4},  {false, 4, 10}, {false, 8, 20},
                             {false, 8, 32}, {true, 1, 3},   {true, 3, 7},
                             {true, 4, 10},  {true, 8, 24}};
  for (const Size &size : sizes) {
    SCOPED_TRACE(describe(size));
    Schedule schedule = generate(size);
    EXPECT_EQ(messages(validateSchedule(schedule)), "");
    EXPECT_EQ(checkDeadlock(schedule).str(), "no deadlock");
    Schedule withComm = insertCommunication(schedule);
    EXPECT_EQ(messages(validateSchedule(withComm)), "");
    EXPECT_EQ(checkDeadlock(withComm).str(), "no deadlock");
  }
  EXPECT_EQ(formatTorchCsv(generateDualPipe(8, 20)),
            readFixture("dualpipe_r8_mb20.csv"));
  EXPECT_EQ(formatTorchCsv(generateDualPipeV(4, 10)),
            readFixture("dualpipev_r4_mb10.csv"));
}
