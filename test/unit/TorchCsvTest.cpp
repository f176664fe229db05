//===- TorchCsvTest.cpp - PyTorch action CSV ------------------------------===//
//
// The fixtures are the per-rank compute order of DeepSeek's reference
// DualPipe (8 ranks, 20 micro-batches, two directions) and DualPipeV (4
// ranks, 10 micro-batches); rank r holds stages r and 2R-1-r.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {
struct Fixture {
  const char *file;
  int directions;
  int ranks;
  int stages;
  int microbatches;
};
const Fixture fixtures[] = {
    {"dualpipe_r8_mb20.csv", 2, 8, 16, 20},
    {"dualpipev_r4_mb10.csv", 1, 4, 8, 10},
};

Schedule parseOk(std::string_view text, int directions = 1) {
  CsvParseResult result = parseTorchCsv(text, directions);
  EXPECT_FALSE(result.error)
      << result.error->line << ":" << result.error->column << ": "
      << result.error->message;
  return result.schedule.value_or(Schedule{});
}

CsvError parseError(std::string_view text, int directions = 1) {
  CsvParseResult result = parseTorchCsv(text, directions);
  EXPECT_FALSE(result.schedule);
  return result.error.value_or(CsvError{});
}
} // namespace

class FixtureTest : public ::testing::TestWithParam<Fixture> {};

TEST_P(FixtureTest, RoundTripsByteForByte) {
  const Fixture &fixture = GetParam();
  std::string text = readFixture(fixture.file);
  ASSERT_FALSE(text.empty()) << "cannot read " << fixture.file;
  Schedule schedule = parseOk(text, fixture.directions);
  EXPECT_EQ(formatTorchCsv(schedule), text);
}

TEST_P(FixtureTest, ShapeAndPlacement) {
  const Fixture &fixture = GetParam();
  Schedule schedule = parseOk(readFixture(fixture.file), fixture.directions);
  EXPECT_EQ(schedule.kind, "imported");
  EXPECT_EQ(schedule.numRanks, fixture.ranks);
  EXPECT_EQ(schedule.numStages, fixture.stages);
  EXPECT_EQ(schedule.numDirections, fixture.directions);
  EXPECT_EQ(schedule.numMicrobatches, fixture.microbatches);
  for (int rank = 0; rank < fixture.ranks; ++rank) {
    EXPECT_EQ(schedule.rankOfStage(rank), rank);
    EXPECT_EQ(schedule.rankOfStage(2 * fixture.ranks - 1 - rank), rank);
  }
}

TEST_P(FixtureTest, IsValidAndDeadlockFree) {
  const Fixture &fixture = GetParam();
  Schedule schedule = parseOk(readFixture(fixture.file), fixture.directions);
  EXPECT_EQ(messages(validateSchedule(schedule)), "");
  DeadlockReport report = checkDeadlock(schedule);
  EXPECT_FALSE(report.deadlocked) << report.str();
}

TEST_P(FixtureTest, CommInsertionStaysValidAndDeadlockFree) {
  const Fixture &fixture = GetParam();
  Schedule schedule = parseOk(readFixture(fixture.file), fixture.directions);
  Schedule lowered = insertCommunication(schedule);
  EXPECT_EQ(messages(validateSchedule(lowered)), "");
  DeadlockReport report = checkDeadlock(lowered);
  EXPECT_FALSE(report.deadlocked) << report.str();
  EXPECT_EQ(formatTorchCsv(lowered), formatTorchCsv(schedule));
}

INSTANTIATE_TEST_SUITE_P(DeepSeek, FixtureTest, ::testing::ValuesIn(fixtures),
                         [](const auto &info) {
                           return info.param.directions == 2
                                      ? std::string("DualPipe")
                                      : std::string("DualPipeV");
                         });

TEST(TorchCsvTest, ParsesEveryActionForm) {
  Schedule schedule = parseOk("0F0,(0F1;3B0)OVERLAP_F_B,0I1,0W1,0B0\n"
                              "1F0,1SEND_F0,1RECV_B0\n"
                              "2RECV_F0,2F0,2SEND_B0\n"
                              "3F0\n");
  EXPECT_EQ(schedule.numRanks, 4);
  EXPECT_EQ(schedule.numStages, 4);
  EXPECT_EQ(schedule.numMicrobatches, 2);
  EXPECT_EQ(schedule.ranks[0],
            (std::vector<Action>{F(0, 0), FB(0, 1, 3, 0), I(0, 1), W(0, 1),
                                 B(0, 0)}));
  // Peers follow the compute placement of the stage across the boundary.
  EXPECT_EQ(schedule.ranks[1],
            (std::vector<Action>{F(1, 0), SendF(1, 0, 2), RecvB(1, 0, 2)}));
  EXPECT_EQ(schedule.ranks[2],
            (std::vector<Action>{RecvF(2, 0, 1), F(2, 0), SendB(2, 0, 1)}));
}

TEST(TorchCsvTest, FixtureActionsAreParsedAsWritten) {
  Schedule schedule = parseOk(readFixture("dualpipev_r4_mb10.csv"));
  ASSERT_GE(schedule.ranks[0].size(), 18u);
  EXPECT_EQ(schedule.ranks[0][0], F(0, 0));
  EXPECT_EQ(schedule.ranks[0][7], F(7, 0));
  EXPECT_EQ(schedule.ranks[0][8], I(7, 0));
  EXPECT_EQ(schedule.ranks[0][9], W(7, 0));
  EXPECT_EQ(schedule.ranks[0][17], FB(0, 7, 7, 3));
}

TEST(TorchCsvTest, FormatSkipsCommAndEndsEveryLine) {
  Schedule schedule = makeSchedule(
      2, 1, {{F(0, 0), SendF(0, 0, 1), B(0, 0)}, {RecvF(1, 0, 0), F(1, 0)}});
  EXPECT_EQ(formatTorchCsv(schedule), "0F0,0B0\n1F0\n");
  EXPECT_EQ(formatTorchCsv(makeSchedule(1, 1, {{}})), "\n");
}

TEST(TorchCsvTest, ToleratesCrlfSpacesAndTrailingEmptyLines) {
  Schedule schedule = parseOk(" 0F0 ,\t0B0\r\n1F0,1B0  \r\n\r\n\n");
  EXPECT_EQ(schedule.numRanks, 2);
  EXPECT_EQ(formatTorchCsv(schedule), "0F0,0B0\n1F0,1B0\n");
  EXPECT_EQ(formatTorchCsv(parseOk("0F0\n1F0")), "0F0\n1F0\n");
  EXPECT_EQ(parseOk(" ( 0F1 ; 1B0 )OVERLAP_F_B").ranks[0][0], FB(0, 1, 1, 0));
}

TEST(TorchCsvTest, EmptyCellsAndLinesAreBubblesAndIdleRanks) {
  // PyTorch writes a missing action (None) as an empty cell.
  Schedule schedule = parseOk("0F0,,0B0\n\n2F0\n");
  EXPECT_EQ(schedule.numRanks, 3);
  EXPECT_EQ(schedule.ranks[0], (std::vector<Action>{F(0, 0), B(0, 0)}));
  EXPECT_TRUE(schedule.ranks[1].empty());
}

TEST(TorchCsvTest, UnrecognisedCellHasLineAndColumn) {
  CsvError error = parseError("0F0,xF3\n");
  EXPECT_EQ(error.line, 1);
  EXPECT_EQ(error.column, 5);
  EXPECT_EQ(error.message, "unrecognised action 'xF3'; expected e.g. 0F1, "
                           "0I1, 0W1, 0B1, (0F1;1B0)OVERLAP_F_B");

  error = parseError("0F0\r\n1F0,  1Q0\r\n");
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.column, 7);
  EXPECT_TRUE(contains(error.message, "'1Q0'"));

  for (const char *bad : {"F0", "0F", "0F1x", "-1F0", "0F-1", "0UNSHARD",
                          "0RESHARD1", "(0F1;1B0)", "(0F1)OVERLAP_F_B",
                          "(0B0;1F1)OVERLAP_F_B", "(0F1;1I0)OVERLAP_F_B"}) {
    error = parseError(std::string("0F0,") + bad);
    EXPECT_EQ(error.line, 1) << bad;
    EXPECT_EQ(error.column, 5) << bad;
    EXPECT_TRUE(contains(error.message, std::string("'") + bad + "'"));
  }
}

TEST(TorchCsvTest, EmptyInputIsAnError) {
  for (const char *empty : {"", "\n", "\r\n\r\n", "  \n"}) {
    CsvError error = parseError(empty);
    EXPECT_EQ(error.line, 1);
    EXPECT_EQ(error.column, 1);
    EXPECT_TRUE(contains(error.message, "empty input"));
  }
  EXPECT_TRUE(contains(parseError(",,\n").message, "no actions"));
}

TEST(TorchCsvTest, CommPeerMustBeDerivable) {
  CsvError error = parseError("0F0,0SEND_F0\n2F0\n");
  EXPECT_EQ(error.line, 1);
  EXPECT_EQ(error.column, 5);
  EXPECT_EQ(error.message,
            "cannot tell the peer of '0SEND_F0': stage 1 runs no compute "
            "action");

  error = parseError("0F0\n1F0,1SEND_F0\n");
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.column, 5);
  EXPECT_EQ(error.message, "cannot tell the peer of '1SEND_F0': stage 1 has "
                           "no neighbour in that direction");
}

TEST(TorchCsvTest, StagesMustSplitIntoDirections) {
  CsvError error = parseError("0F0\n1F0\n2F0\n", /*directions=*/2);
  EXPECT_EQ(error.line, 3);
  EXPECT_EQ(error.column, 1);
  EXPECT_EQ(error.message, "the highest stage is 2, so 3 stages, which do not "
                           "split into 2 directions");
  EXPECT_EQ(parseError("0F0\n", /*directions=*/0).line, 0);
}

TEST(TorchCsvTest, RejectsAbsurdNumbers) {
  CsvError error = parseError("0F0,0F2000000\n");
  EXPECT_EQ(error.column, 5);
  EXPECT_TRUE(contains(error.message, "above the limit"));
  EXPECT_TRUE(contains(parseError("0F99999999999999999999\n").message,
                       "unrecognised action"));
}
