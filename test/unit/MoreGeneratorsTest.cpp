//===- MoreGeneratorsTest.cpp - Interleaved 1F1B, ZB-H1, ZB-V generators --===//
//
// Three layers of checks for generateInterleaved1F1B, generateZeroBubbleH1
// and generateZeroBubbleV:
//  (a) small sizes written out by hand from the reference rules, plus a
//      prefix of the order printed in PyTorch PR #129597;
//  (b) the orders of test/unit/oracle/pytorch_orders.py, a plain-Python
//      restatement of the references, stored under fixtures/pytorch/;
//  (c) properties over many sizes: placement, completeness, local order of
//      F before B/I before W, dataflow progress, and activation peaks.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include "passes/Schedule/MoreGenerators.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {
/// One string per rank in PyTorch's action text, e.g. "0F0,0I0,0W0".
std::vector<std::string> rankTexts(const Schedule &schedule) {
  std::vector<std::string> texts;
  for (const std::vector<Action> &actions : schedule.ranks)
    texts.push_back(joined(actions));
  return texts;
}

/// PyTorch's interleaving rule (see MoreGenerators.h).
bool interleavedAccepts(int ranks, int microbatches) {
  return microbatches % std::max(1, microbatches / ranks) == 0;
}

void expectHeader(const Schedule &schedule, const char *kind, int ranks,
                  int stages, int microbatches) {
  EXPECT_EQ(schedule.name, "");
  EXPECT_EQ(schedule.kind, kind);
  EXPECT_EQ(schedule.numRanks, ranks);
  EXPECT_EQ(schedule.numStages, stages);
  EXPECT_EQ(schedule.numMicrobatches, microbatches);
  EXPECT_EQ(schedule.numDirections, 1);
  EXPECT_EQ(static_cast<int>(schedule.ranks.size()), ranks);
}
} // namespace

//===----------------------------------------------------------------------===//
// (a) Hand-written orders
//===----------------------------------------------------------------------===//

// R=2, V=2, N=4: one round is R=2 micro-batches; rank 0 warms up with
// (V-1)*2 + 2*(R-1-0) = 4 forwards, rank 1 with 2. Forward k runs local
// stage (k/2)%2, backward k local stage 1-(k/2)%2.
TEST(MoreGeneratorsTest, InterleavedTwoRanksTwoStagesFourMicrobatches) {
  Schedule schedule = generateInterleaved1F1B(2, 2, 4);
  expectHeader(schedule, "interleaved-1f1b", 2, 4, 4);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{
                "0F0,0F1,2F0,2F1,0F2,2B0,0F3,2B1,2F2,0B0,2F3,0B1,2B2,2B3,0B2,"
                "0B3",
                "1F0,1F1,3F0,3B0,3F1,3B1,1F2,1B0,1F3,1B1,3F2,3B2,3F3,3B3,1B2,"
                "1B3"}));
}

// R=2, V=2, N=2: rank 0's warm-up 2+2 = 4 covers all V*N forwards.
TEST(MoreGeneratorsTest, InterleavedWarmupCappedAtAllForwards) {
  Schedule schedule = generateInterleaved1F1B(2, 2, 2);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{"0F0,0F1,2F0,2F1,2B0,2B1,0B0,0B1",
                                      "1F0,1F1,3F0,3B0,3F1,3B1,1B0,1B1"}));
}

// R=2, V=2, N=3 (3 % 2 != 0, accepted by PyTorch's flexible rule): one round
// of all 3 micro-batches; warm-up 3+2 = 5 on rank 0, 3 on rank 1.
TEST(MoreGeneratorsTest, InterleavedFlexibleRoundOfThree) {
  ASSERT_TRUE(interleavedAccepts(2, 3));
  Schedule schedule = generateInterleaved1F1B(2, 2, 3);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{
                "0F0,0F1,0F2,2F0,2F1,2F2,2B0,2B1,2B2,0B0,0B1,0B2",
                "1F0,1F1,1F2,3F0,3B0,3F1,3B1,3F2,3B2,1B0,1B1,1B2"}));
}

// R=1, V=3, N=2: a single rank walks its stages 0,1,2 one micro-batch at a
// time (rounds of 1); warm-up (V-1)*1 = 2.
TEST(MoreGeneratorsTest, InterleavedSingleRank) {
  Schedule schedule = generateInterleaved1F1B(1, 3, 2);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{
                "0F0,1F0,2F0,2B0,0F1,1B0,1F1,0B0,2F1,2B1,1B1,0B1"}));
}

// The first steps of R=4, V=2, N=10 (rounds of 5) as printed, with idle
// slots, in the description of PyTorch PR #129597 (flexible interleaving).
TEST(MoreGeneratorsTest, InterleavedMatchesPyTorchPr129597Prefix) {
  ASSERT_TRUE(interleavedAccepts(4, 10));
  Schedule schedule = generateInterleaved1F1B(4, 2, 10);
  std::vector<std::string> prefixes = {
      "0F0,0F1,0F2,0F3,0F4,4F0,4F1,4F2,4F3,4F4,0F5,0F6,4B0,0F7",
      "1F0,1F1,1F2,1F3,1F4,5F0,5F1,5F2,5F3,5F4,5B0,1F5,5B1,1F6",
      "2F0,2F1,2F2,2F3,2F4,6F0,6F1,6F2,6B0,6F3,6B1,6F4,6B2,2F5",
      "3F0,3F1,3F2,3F3,3F4,7F0,7B0,7F1,7B1,7F2,7B2,7F3,7B3,7F4"};
  std::vector<std::string> texts = rankTexts(schedule);
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_EQ(texts[rank].substr(0, prefixes[rank].size()), prefixes[rank])
        << "rank " << rank;
}

// R=3, N=4: warm-ups 2,1,0; rank r runs a W after its i-th I once i >= r
// and ends with its r held-back W passes.
TEST(MoreGeneratorsTest, ZeroBubbleH1ThreeRanksFourMicrobatches) {
  Schedule schedule = generateZeroBubbleH1(3, 4);
  expectHeader(schedule, "zb-h1", 3, 3, 4);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{
                "0F0,0F1,0F2,0I0,0W0,0F3,0I1,0W1,0I2,0W2,0I3,0W3",
                "1F0,1F1,1I0,1F2,1I1,1W0,1F3,1I2,1W1,1I3,1W2,1W3",
                "2F0,2I0,2F1,2I1,2F2,2I2,2W0,2F3,2I3,2W1,2W2,2W3"}));
}

TEST(MoreGeneratorsTest, ZeroBubbleH1SingleRank) {
  EXPECT_EQ(rankTexts(generateZeroBubbleH1(1, 2)),
            (std::vector<std::string>{"0F0,0I0,0W0,0F1,0I1,0W1"}));
}

// R=2, N=4: rank 0 runs stages 0 and 3, rank 1 stages 1 and 2. Rank 0:
// 3 forwards of stage 0, then 2 x (F,I,W) of stage 3, then the steady
// F/I/W pairs, then (I,W) of stage 0 twice. Rank 1: 1 forward, (2F,1F)
// once, (2F,2I,2W) once, steady state, then (1I,2I), (1I,1W), the left-over
// W of stage 2, then of stage 1.
TEST(MoreGeneratorsTest, ZeroBubbleVTwoRanksFourMicrobatches) {
  Schedule schedule = generateZeroBubbleV(2, 4);
  expectHeader(schedule, "zb-v", 2, 4, 4);
  EXPECT_EQ(rankTexts(schedule),
            (std::vector<std::string>{
                "0F0,0F1,0F2,3F0,3I0,3W0,3F1,3I1,3W1,0F3,0I0,0W0,3F2,3I2,3W2,"
                "0I1,0W1,3F3,3I3,3W3,0I2,0W2,0I3,0W3",
                "1F0,2F0,1F1,2F1,2I0,2W0,1F2,1I0,1W0,2F2,2I1,2W1,1F3,1I1,1W1,"
                "2F3,2I2,2W2,1I2,2I3,1I3,1W2,2W3,1W3"}));
}

// R=2, N=2 < 2R-1: the reference lays out 3 micro-batches and blanks the
// actions of micro-batch 2.
TEST(MoreGeneratorsTest, ZeroBubbleVDropsPaddingMicrobatches) {
  EXPECT_EQ(rankTexts(generateZeroBubbleV(2, 2)),
            (std::vector<std::string>{
                "0F0,0F1,3F0,3I0,3W0,3F1,3I1,3W1,0I0,0W0,0I1,0W1",
                "1F0,2F0,1F1,2F1,2I0,2W0,1I0,1W0,2I1,2W1,1I1,1W1"}));
}

TEST(MoreGeneratorsTest, ZeroBubbleVSingleRank) {
  EXPECT_EQ(rankTexts(generateZeroBubbleV(1, 2)),
            (std::vector<std::string>{"0F0,1F0,1I0,1W0,0F1,0I0,0W0,1F1,1I1,"
                                      "1W1,0I1,0W1"}));
}

//===----------------------------------------------------------------------===//
// (b) Orders from the Python oracle
//===----------------------------------------------------------------------===//

TEST(MoreGeneratorsTest, MatchesOracleFixtures) {
  std::istringstream manifest(readFixture("pytorch/manifest.txt"));
  std::string line;
  int checked = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream fields(line);
    std::string kind, file;
    int ranks = 0, stagesPerRank = 0, microbatches = 0;
    ASSERT_TRUE(fields >> kind >> ranks >> stagesPerRank >> microbatches >>
                file)
        << line;
    Schedule schedule;
    if (kind == "interleaved-1f1b")
      schedule = generateInterleaved1F1B(ranks, stagesPerRank, microbatches);
    else if (kind == "zb-h1")
      schedule = generateZeroBubbleH1(ranks, microbatches);
    else if (kind == "zb-v")
      schedule = generateZeroBubbleV(ranks, microbatches);
    else
      FAIL() << "unknown kind in manifest: " << line;
    std::string expected = readFixture("pytorch/" + file);
    std::string actual;
    for (const std::string &text : rankTexts(schedule))
      actual += text + "\n";
    EXPECT_EQ(actual, expected) << file;
    ++checked;
  }
  // Guards against a missing or truncated fixture directory.
  EXPECT_GE(checked, 150);
}

//===----------------------------------------------------------------------===//
// (c) Properties over many sizes
//===----------------------------------------------------------------------===//

namespace {
/// Checks the per-stage and per-rank rules every generated schedule must
/// satisfy; `rankOf(stage)` is the intended placement and `splitBackward`
/// selects I+W (zero bubble) instead of B.
template <typename RankOf>
void expectWellFormed(const Schedule &schedule, RankOf rankOf,
                      bool splitBackward) {
  int stages = schedule.numStages;
  int microbatches = schedule.numMicrobatches;
  SCOPED_TRACE(schedule.kind + " R=" + std::to_string(schedule.numRanks) +
               " S=" + std::to_string(stages) +
               " N=" + std::to_string(microbatches));
  // seen[kind][stage][mb]: how often the action ran.
  std::vector<std::vector<std::vector<int>>> seen(
      4,
      std::vector<std::vector<int>>(stages, std::vector<int>(microbatches, 0)));
  auto slot = [](ActionKind kind) {
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
  };
  for (int rank = 0; rank < schedule.numRanks; ++rank) {
    for (const Action &action : schedule.ranks[rank]) {
      ASSERT_TRUE(action.stage >= 0 && action.stage < stages) << action.str();
      ASSERT_TRUE(action.microbatch >= 0 && action.microbatch < microbatches)
          << action.str();
      EXPECT_EQ(rankOf(action.stage), rank) << action.str();
      int s = action.stage, mb = action.microbatch;
      switch (action.kind) {
      case ActionKind::Forward:
        break;
      case ActionKind::Backward:
        EXPECT_FALSE(splitBackward) << action.str();
        EXPECT_EQ(seen[0][s][mb], 1) << action.str() << " before its F";
        break;
      case ActionKind::BackwardInput:
        EXPECT_TRUE(splitBackward) << action.str();
        EXPECT_EQ(seen[0][s][mb], 1) << action.str() << " before its F";
        break;
      case ActionKind::BackwardWeight:
        EXPECT_TRUE(splitBackward) << action.str();
        EXPECT_EQ(seen[2][s][mb], 1) << action.str() << " before its I";
        break;
      default:
        ADD_FAILURE() << "unexpected action " << action.str();
      }
      ++seen[slot(action.kind)][s][mb];
    }
  }
  for (int s = 0; s < stages; ++s) {
    for (int mb = 0; mb < microbatches; ++mb) {
      EXPECT_EQ(seen[0][s][mb], 1) << "F of stage " << s << " mb " << mb;
      EXPECT_EQ(seen[1][s][mb], splitBackward ? 0 : 1)
          << "B of stage " << s << " mb " << mb;
      EXPECT_EQ(seen[2][s][mb], splitBackward ? 1 : 0)
          << "I of stage " << s << " mb " << mb;
      EXPECT_EQ(seen[3][s][mb], splitBackward ? 1 : 0)
          << "W of stage " << s << " mb " << mb;
    }
  }
}

/// Runs the ranks as dataflow (an action waits for the actions it consumes,
/// wherever they run) and returns whether every rank finishes: F(s) needs
/// F(s-1); B/I(s) needs B/I(s+1), or F(s) on the last stage; W(s) needs I(s).
bool dataflowCompletes(const Schedule &schedule) {
  int stages = schedule.numStages;
  int microbatches = schedule.numMicrobatches;
  std::vector<std::vector<char>> forwardDone(
      stages, std::vector<char>(microbatches, 0));
  std::vector<std::vector<char>> gradientDone = forwardDone;
  std::vector<size_t> next(schedule.numRanks, 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (int rank = 0; rank < schedule.numRanks; ++rank) {
      const std::vector<Action> &actions = schedule.ranks[rank];
      while (next[rank] < actions.size()) {
        const Action &action = actions[next[rank]];
        int s = action.stage, mb = action.microbatch;
        bool ready = true;
        switch (action.kind) {
        case ActionKind::Forward:
          ready = s == 0 || forwardDone[s - 1][mb];
          break;
        case ActionKind::Backward:
        case ActionKind::BackwardInput:
          ready =
              s == stages - 1 ? forwardDone[s][mb] : gradientDone[s + 1][mb];
          break;
        default:
          ready = gradientDone[s][mb];
          break;
        }
        if (!ready)
          break;
        if (action.kind == ActionKind::Forward)
          forwardDone[s][mb] = 1;
        else if (action.kind != ActionKind::BackwardWeight)
          gradientDone[s][mb] = 1;
        ++next[rank];
        progress = true;
      }
    }
  }
  for (int rank = 0; rank < schedule.numRanks; ++rank)
    if (next[rank] != schedule.ranks[rank].size())
      return false;
  return true;
}

/// Most forwards on a rank whose `release` action (B, I or W) has not run.
int peakHeld(const std::vector<Action> &actions, ActionKind release) {
  int held = 0, peak = 0;
  for (const Action &action : actions) {
    if (action.kind == ActionKind::Forward)
      peak = std::max(peak, ++held);
    else if (action.kind == release)
      --held;
  }
  return peak;
}

const std::vector<int> &rankCounts() {
  static const std::vector<int> counts = {1, 2, 3, 4,  5,  6,
                                          7, 8, 9, 10, 11, 12};
  return counts;
}

/// N values around the interesting boundaries for R ranks.
std::vector<int> microbatchCounts(int ranks) {
  std::vector<int> counts = {1,
                             2,
                             3,
                             ranks - 1,
                             ranks,
                             ranks + 1,
                             2 * ranks - 1,
                             2 * ranks,
                             2 * ranks + 1,
                             3 * ranks,
                             4 * ranks + 2};
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  counts.erase(
      std::remove_if(counts.begin(), counts.end(), [](int n) { return n < 1; }),
      counts.end());
  return counts;
}
} // namespace

TEST(MoreGeneratorsTest, InterleavedPropertiesOverManySizes) {
  int checked = 0;
  for (int ranks : rankCounts()) {
    for (int local = 2; local <= 4; ++local) {
      for (int n = 1; n <= 3 * ranks + 2; ++n) {
        if (!interleavedAccepts(ranks, n))
          continue;
        Schedule schedule = generateInterleaved1F1B(ranks, local, n);
        expectHeader(schedule, "interleaved-1f1b", ranks, ranks * local, n);
        expectWellFormed(
            schedule, [&](int stage) { return stage % ranks; },
            /*splitBackward=*/false);
        EXPECT_TRUE(dataflowCompletes(schedule))
            << "R=" << ranks << " V=" << local << " N=" << n;
        // Peak activations: the warm-up forwards plus the first steady one.
        int perRound = n / std::max(1, n / ranks);
        for (int rank = 0; rank < ranks; ++rank) {
          int warmup = (local - 1) * perRound + 2 * (ranks - 1 - rank);
          EXPECT_EQ(peakHeld(schedule.ranks[rank], ActionKind::Backward),
                    std::min(warmup + 1, local * n))
              << "R=" << ranks << " V=" << local << " N=" << n << " r=" << rank;
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 600);
}

TEST(MoreGeneratorsTest, ZeroBubbleH1PropertiesOverManySizes) {
  for (int ranks : rankCounts()) {
    for (int n : microbatchCounts(ranks)) {
      Schedule schedule = generateZeroBubbleH1(ranks, n);
      expectHeader(schedule, "zb-h1", ranks, ranks, n);
      expectWellFormed(
          schedule, [](int stage) { return stage; }, /*splitBackward=*/true);
      EXPECT_TRUE(dataflowCompletes(schedule)) << "R=" << ranks << " N=" << n;
      for (int rank = 0; rank < ranks; ++rank) {
        const std::vector<Action> &actions = schedule.ranks[rank];
        // The bulk of a micro-batch's activations is freed by its I, so
        // ZB-H1 holds exactly as many as 1F1B: min(N, R-r).
        EXPECT_EQ(peakHeld(actions, ActionKind::BackwardInput),
                  std::min(n, ranks - rank))
            << "R=" << ranks << " N=" << n << " r=" << rank;
        // What W still needs (the stage input and output gradient) is held
        // for up to min(N, R) micro-batches on every rank.
        EXPECT_EQ(peakHeld(actions, ActionKind::BackwardWeight),
                  std::min(n, ranks))
            << "R=" << ranks << " N=" << n << " r=" << rank;
        // F and I keep 1F1B's order: dropping the W passes and reading I as
        // B gives the 1F1B order.
        std::vector<Action> withoutWeights;
        for (const Action &action : actions)
          if (action.kind != ActionKind::BackwardWeight)
            withoutWeights.push_back(action.kind == ActionKind::BackwardInput
                                         ? B(action.stage, action.microbatch)
                                         : action);
        int warmup = std::min(n, ranks - 1 - rank);
        std::vector<Action> oneFOneB;
        for (int mb = 0; mb < warmup; ++mb)
          oneFOneB.push_back(F(rank, mb));
        for (int i = 0; i < n - warmup; ++i) {
          oneFOneB.push_back(F(rank, warmup + i));
          oneFOneB.push_back(B(rank, i));
        }
        for (int mb = n - warmup; mb < n; ++mb)
          oneFOneB.push_back(B(rank, mb));
        EXPECT_EQ(joined(withoutWeights), joined(oneFOneB))
            << "R=" << ranks << " N=" << n << " r=" << rank;
        // Rank r defers r W passes to after its last I (all N if N <= r);
        // the W of the last I runs right after it when N > r.
        int trailingWeights = 0;
        for (auto it = actions.rbegin();
             it != actions.rend() && it->kind == ActionKind::BackwardWeight;
             ++it)
          ++trailingWeights;
        EXPECT_EQ(trailingWeights, n > rank ? rank + 1 : n)
            << "R=" << ranks << " N=" << n << " r=" << rank;
      }
    }
  }
}

TEST(MoreGeneratorsTest, ZeroBubbleVPropertiesOverManySizes) {
  for (int ranks : rankCounts()) {
    for (int n : microbatchCounts(ranks)) {
      Schedule schedule = generateZeroBubbleV(ranks, n);
      expectHeader(schedule, "zb-v", ranks, 2 * ranks, n);
      expectWellFormed(
          schedule,
          [&](int stage) {
            return stage < ranks ? stage : 2 * ranks - 1 - stage;
          },
          /*splitBackward=*/true);
      EXPECT_TRUE(dataflowCompletes(schedule)) << "R=" << ranks << " N=" << n;
      // Each V stage holds half a 1F1B stage's layers, so 1F1B's peak of R
      // full-stage activations on rank 0 corresponds to 2R here; ZB-V
      // reaches it on every rank once the pipeline is full.
      for (int rank = 0; rank < ranks; ++rank) {
        const std::vector<Action> &actions = schedule.ranks[rank];
        for (ActionKind release :
             {ActionKind::BackwardInput, ActionKind::BackwardWeight}) {
          int peak = peakHeld(actions, release);
          if (n >= 2 * ranks)
            EXPECT_EQ(peak, 2 * ranks)
                << "R=" << ranks << " N=" << n << " r=" << rank;
          else
            EXPECT_LE(peak, 2 * ranks)
                << "R=" << ranks << " N=" << n << " r=" << rank;
        }
      }
    }
  }
}
