//===- TestHelpers.h - Shorthands for schedule unit tests -------*- C++ -*-===//
//
// Builders for hand-written schedules, so that tests state expectations
// directly as actions instead of deriving them from the code under test.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_TEST_UNIT_TESTHELPERS_H
#define PIPEWEAVE_TEST_UNIT_TESTHELPERS_H

#include "passes/Schedule/Schedule.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace pipeweave::schedule::pwtest {

inline Action F(int stage, int mb) { return Action::forward(stage, mb); }
inline Action B(int stage, int mb) { return Action::backward(stage, mb); }
inline Action I(int stage, int mb) { return Action::backwardInput(stage, mb); }
inline Action W(int stage, int mb) { return Action::backwardWeight(stage, mb); }
inline Action FB(int fwdStage, int fwdMb, int bwdStage, int bwdMb) {
  return Action::overlap(fwdStage, fwdMb, bwdStage, bwdMb);
}
inline Action SendF(int stage, int mb, int peer, int64_t bytes = 0) {
  return Action::send(Payload::Activation, stage, mb, peer, bytes);
}
inline Action RecvF(int stage, int mb, int peer, int64_t bytes = 0) {
  return Action::recv(Payload::Activation, stage, mb, peer, bytes);
}
inline Action SendB(int stage, int mb, int peer, int64_t bytes = 0) {
  return Action::send(Payload::Gradient, stage, mb, peer, bytes);
}
inline Action RecvB(int stage, int mb, int peer, int64_t bytes = 0) {
  return Action::recv(Payload::Gradient, stage, mb, peer, bytes);
}

/// A schedule with the given per-rank actions; `microbatches` is the total
/// over all directions.
inline Schedule makeSchedule(int stages, int microbatches,
                             std::vector<std::vector<Action>> ranks,
                             int directions = 1) {
  Schedule schedule;
  schedule.kind = "test";
  schedule.numRanks = ranks.size();
  schedule.numStages = stages;
  schedule.numMicrobatches = microbatches;
  schedule.numDirections = directions;
  schedule.ranks = std::move(ranks);
  return schedule;
}

/// "0F0,0SEND_F0,0F1": one rank's actions including comm.
inline std::string joined(const std::vector<Action> &actions) {
  std::string text;
  for (const Action &action : actions) {
    if (!text.empty())
      text += ',';
    text += action.str();
  }
  return text;
}

inline std::string readFixture(const std::string &name) {
  std::ifstream file(std::string(PW_UNIT_FIXTURES_DIR) + "/" + name,
                     std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

/// A valid two-rank V-shaped schedule (stages 0 and 3 on rank 0, 1 and 2 on
/// rank 1, two micro-batches) with one overlapped F/B pair.
inline Schedule smallVSchedule() {
  return makeSchedule(
      4, 2,
      {{F(0, 0), F(0, 1), F(3, 0), FB(3, 1, 3, 0), B(3, 1), B(0, 0), B(0, 1)},
       {F(1, 0), F(2, 0), F(1, 1), F(2, 1), B(2, 0), B(1, 0), B(2, 1),
        B(1, 1)}});
}

/// Passes if `text` contains `fragment`, printing both otherwise.
inline ::testing::AssertionResult contains(const std::string &text,
                                           const std::string &fragment) {
  if (text.find(fragment) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "'" << text << "' does not contain '" << fragment << "'";
}

/// All problem messages, one per line, for readable failure output.
inline std::string messages(const std::vector<Problem> &problems) {
  std::string text;
  for (const Problem &problem : problems) {
    std::ostringstream line;
    line << "[" << problem.rank << ":" << problem.index << "] "
         << problem.message << "\n";
    text += line.str();
  }
  return text;
}

} // namespace pipeweave::schedule::pwtest

#endif // PIPEWEAVE_TEST_UNIT_TESTHELPERS_H
