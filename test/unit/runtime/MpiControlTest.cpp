//===- MpiControlTest.cpp - The CUDA backend's control plane over MPI -----===//
//
// Runs under mpirun on 3 ranks, no GPU needed: the all-gathers that carry
// the placements, the NCCL unique id and the step reports between CUDA
// ranks, and the fatal announcements that make peers abort. The last test
// leaves the control plane broken (a rank that never comes), so main
// finalizes MPI itself.
//
//===----------------------------------------------------------------------===//

#include "ControlPlane.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

using namespace pwrt;

namespace {

int worldRank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

std::unique_ptr<ControlPlane> control(double timeout) {
  Error error;
  std::unique_ptr<ControlPlane> plane = createMpiControl(timeout, error);
  EXPECT_FALSE(error) << error.message;
  return plane;
}

TEST(MpiControl, RanksAndPlacement) {
  auto plane = control(10);
  ASSERT_TRUE(plane);
  EXPECT_EQ(plane->rank(), worldRank());
  EXPECT_EQ(plane->size(), 3);
  EXPECT_FALSE(plane->singleProcess());
  // mpirun starts every rank on this machine: local rank = rank.
  EXPECT_EQ(plane->localRank(), worldRank());
}

TEST(MpiControl, AllGathersOfAnySizeInOrder) {
  auto plane = control(10);
  ASSERT_TRUE(plane);
  int r = plane->rank();
  // Different lengths, an empty one, one larger than an eager message,
  // bytes that are not text (a NCCL id is binary).
  std::string mine = r == 0   ? std::string(200000, 'x')
                     : r == 1 ? std::string()
                              : std::string("\0\1\2", 3);
  std::vector<std::string> all;
  ASSERT_FALSE(plane->allGather(mine, all, "round one"));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], std::string(200000, 'x'));
  EXPECT_EQ(all[1], "");
  EXPECT_EQ(all[2], std::string("\0\1\2", 3));
  for (int round = 0; round < 20; ++round) {
    ASSERT_FALSE(
        plane->allGather(std::to_string(round * 10 + r), all, "a later round"));
    for (int peer = 0; peer < 3; ++peer)
      EXPECT_EQ(all[size_t(peer)], std::to_string(round * 10 + peer));
  }
}

TEST(MpiControl, FatalAnnouncementsReachThePeers) {
  auto plane = control(10);
  ASSERT_TRUE(plane);
  if (plane->rank() == 2)
    plane->announceFatal(
        FatalReport{PWRT_ERROR_DEVICE, 2, -1, 5, "rank 2: broken"});
  if (plane->rank() != 2) {
    std::optional<FatalReport> report;
    auto start = std::chrono::steady_clock::now();
    while (!(report = plane->pollFatal()) &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(report);
    EXPECT_EQ(report->origin, 2);
    EXPECT_EQ(report->status, PWRT_ERROR_DEVICE);
    EXPECT_EQ(report->message, "rank 2: broken");
  }
  // Seen once; the plane goes on working.
  std::vector<std::string> all;
  EXPECT_FALSE(plane->allGather("after", all, "a round after"));
}

TEST(MpiControl, ARankThatNeverComesIsNamed) {
  auto plane = control(0.5);
  ASSERT_TRUE(plane);
  std::vector<std::string> all;
  if (plane->rank() == 2) {
    // Comes too late: the others have given up and said so.
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    std::optional<FatalReport> report = plane->allGather("", all, "late");
    ASSERT_TRUE(report);
    EXPECT_EQ(report->status, PWRT_ERROR_PEER_LOST);
    EXPECT_EQ(report->lostRank, 2);
    return;
  }
  auto start = std::chrono::steady_clock::now();
  std::optional<FatalReport> report =
      plane->allGather("x", all, "the end of step 7");
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      1.9);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->status, PWRT_ERROR_PEER_LOST);
  EXPECT_EQ(report->lostRank, 2);
  // Whichever of ranks 0 and 1 timed out first told the other.
  EXPECT_TRUE(std::regex_match(
      report->message,
      std::regex("rank [01]: no progress for 0.5 s while waiting on rank 2 "
                 "in the end of step 7; presumed lost")))
      << report->message;
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  if (worldRank() != 0)
    ::testing::GTEST_FLAG(output) = "";
  int result = RUN_ALL_TESTS();
  // The last test broke the control plane on purpose, so the runtime will
  // not finalize MPI at exit: do it here once everyone is done.
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return result;
}
