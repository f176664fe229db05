//===- MpiTest.cpp - Multi-rank tests of the host backend -----------------===//
//
// Runs under mpirun (ctest: 2 and 4 ranks); every rank runs every test in
// the same order. Ping-pong and grouped transfers with data checks, every
// schedule kind run end to end, overlap of a transfer with compute, and
// the errors a step recovers from (a kernel failure, a missing kernel, a
// message of the wrong size), which every rank must report identically.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"
#include "testing/ScheduleRunner.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using pwrt::testing::ActionRef;
using pwrt::testing::RunnerOptions;
using pwrt::testing::ScheduleRunner;

pwrt_context *createContext(bool quiet = true) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.timeout_seconds = 20;
  options.trace_path = "";
  options.flags = quiet ? PWRT_FLAG_QUIET : 0;
  pwrt_context *ctx = nullptr;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK)
      << pwrt_last_error(nullptr);
  return ctx;
}

/// Every rank's `text`, by rank (the test's own MPI traffic).
std::vector<std::string> allTexts(const std::string &text) {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int length = int(text.size());
  std::vector<int> lengths(static_cast<size_t>(size));
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT,
                MPI_COMM_WORLD);
  std::vector<int> offsets(static_cast<size_t>(size));
  int total = 0;
  for (int r = 0; r < size; ++r)
    offsets[size_t(r)] = total, total += lengths[size_t(r)];
  std::string all(size_t(total), '\0');
  MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                 offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> result;
  for (int r = 0; r < size; ++r)
    result.push_back(
        all.substr(size_t(offsets[size_t(r)]), size_t(lengths[size_t(r)])));
  return result;
}

uint8_t patternByte(int from, int to, int tag, size_t index) {
  return uint8_t(from * 31 + to * 7 + tag * 13 + index * 5 + index / 251);
}

pwrt_transfer message(void *data, size_t bytes, int peer, int tag) {
  pwrt_transfer transfer;
  std::memset(&transfer, 0, sizeof(transfer));
  transfer.data = data;
  transfer.bytes = bytes;
  transfer.peer = peer;
  transfer.tag = tag;
  transfer.payload = PWRT_PAYLOAD_ACTIVATION;
  transfer.stage = -1;
  transfer.microbatch = -1;
  return transfer;
}

class Mpi : public ::testing::Test {
protected:
  void SetUp() override {
    ctx = createContext();
    ASSERT_NE(ctx, nullptr);
    rank = pwrt_rank(ctx);
    size = pwrt_world_size(ctx);
  }
  void TearDown() override {
    if (ctx)
      EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK) << pwrt_last_error(nullptr);
  }
  pwrt_stream stream(const char *name) {
    pwrt_stream id = -1;
    EXPECT_EQ(pwrt_stream_create(ctx, name, &id), PWRT_OK);
    return id;
  }
  pwrt_event event() {
    pwrt_event id = -1;
    EXPECT_EQ(pwrt_event_create(ctx, &id), PWRT_OK);
    return id;
  }
  pwrt_context *ctx = nullptr;
  int rank = 0, size = 1;
};

//===----------------------------------------------------------------------===//
// Transfers
//===----------------------------------------------------------------------===//

pwrt_status addOne(const pwrt_kernel_args *args) {
  const auto *in = static_cast<const uint8_t *>(args->inputs[0].data);
  auto *out = static_cast<uint8_t *>(args->outputs[0].data);
  for (size_t i = 0; i < args->inputs[0].bytes; ++i)
    out[i] = uint8_t(in[i] + 1);
  return PWRT_OK;
}

TEST_F(Mpi, PingPongThroughAKernel) {
  // Rank 0 sends, rank 1 adds one to every byte in a kernel and sends the
  // result back; up to 6 MiB, past MPI's eager and single-copy limits.
  const std::vector<size_t> sizes = {0, 1, 8, 4096, 65537, 6 << 20};
  size_t maxBytes = sizes.back();
  pwrt_kernel add;
  ASSERT_EQ(pwrt_register_kernel(ctx, "add_one", addOne, nullptr, &add),
            PWRT_OK);
  ASSERT_EQ(pwrt_pool_create(ctx, 2 * maxBytes, 0), PWRT_OK);
  void *a, *b;
  ASSERT_EQ(pwrt_buffer_at(ctx, 0, maxBytes, &a), PWRT_OK);
  ASSERT_EQ(pwrt_buffer_at(ctx, maxBytes, maxBytes, &b), PWRT_OK);
  pwrt_stream compute = stream("compute"), comm = stream("comm");
  pwrt_event received = event(), computed = event();
  for (size_t n = 0; n < sizes.size(); ++n) {
    size_t bytes = sizes[n];
    int tag = int(2 * n);
    auto *bytesA = static_cast<uint8_t *>(a);
    if (rank == 0)
      for (size_t i = 0; i < bytes; ++i)
        bytesA[i] = patternByte(0, 1, tag, i);
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    if (rank == 0) {
      pwrt_transfer out = message(a, bytes, 1, tag);
      pwrt_transfer back = message(b, bytes, 1, tag + 1);
      ASSERT_EQ(pwrt_send(ctx, comm, &out), PWRT_OK);
      ASSERT_EQ(pwrt_recv(ctx, comm, &back), PWRT_OK);
    } else if (rank == 1) {
      pwrt_transfer in = message(a, bytes, 0, tag);
      ASSERT_EQ(pwrt_recv(ctx, comm, &in), PWRT_OK);
      ASSERT_EQ(pwrt_event_record(ctx, comm, received), PWRT_OK);
      ASSERT_EQ(pwrt_stream_wait_event(ctx, compute, received), PWRT_OK);
      pwrt_buffer input{a, bytes}, output{b, bytes};
      pwrt_kernel_args args;
      std::memset(&args, 0, sizeof(args));
      args.inputs = &input;
      args.num_inputs = 1;
      args.outputs = &output;
      args.num_outputs = 1;
      ASSERT_EQ(pwrt_launch(ctx, compute, add, &args), PWRT_OK);
      ASSERT_EQ(pwrt_event_record(ctx, compute, computed), PWRT_OK);
      ASSERT_EQ(pwrt_stream_wait_event(ctx, comm, computed), PWRT_OK);
      pwrt_transfer back = message(b, bytes, 0, tag + 1);
      ASSERT_EQ(pwrt_send(ctx, comm, &back), PWRT_OK);
    }
    ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
    if (rank == 0) {
      const auto *result = static_cast<const uint8_t *>(b);
      for (size_t i = 0; i < bytes; ++i)
        ASSERT_EQ(result[i], uint8_t(patternByte(0, 1, tag, i) + 1))
            << "size " << bytes << " byte " << i;
    }
  }
}

TEST_F(Mpi, GroupedRingInEitherOrder) {
  // Each rank sends two messages to the next rank and receives two from
  // the previous one in one group. Half the ranks post receives first:
  // blocking calls in these orders would deadlock; a group must not. With
  // two ranks, next and previous are the same peer.
  const size_t small = 100, large = 3 << 20;
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  std::vector<uint8_t> out0(small), out1(large), in0(small), in1(large);
  for (size_t i = 0; i < small; ++i)
    out0[i] = patternByte(rank, next, 0, i);
  for (size_t i = 0; i < large; ++i)
    out1[i] = patternByte(rank, next, 1, i);
  pwrt_stream comm = stream("comm");
  for (int step = 0; step < 3; ++step) {
    std::fill(in0.begin(), in0.end(), 0);
    std::fill(in1.begin(), in1.end(), 0);
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    pwrt_transfer sends[2] = {message(out0.data(), small, next, 0),
                              message(out1.data(), large, next, 1)};
    pwrt_transfer recvs[2] = {message(in1.data(), large, prev, 1),
                              message(in0.data(), small, prev, 0)};
    ASSERT_EQ(pwrt_p2p_group_begin(ctx, comm), PWRT_OK);
    for (int i = 0; i < 2; ++i) {
      if ((rank + step) % 2 == 0) {
        ASSERT_EQ(pwrt_recv(ctx, comm, &recvs[i]), PWRT_OK);
      } else {
        ASSERT_EQ(pwrt_send(ctx, comm, &sends[i]), PWRT_OK);
      }
    }
    for (int i = 0; i < 2; ++i) {
      if ((rank + step) % 2 == 0) {
        ASSERT_EQ(pwrt_send(ctx, comm, &sends[i]), PWRT_OK);
      } else {
        ASSERT_EQ(pwrt_recv(ctx, comm, &recvs[i]), PWRT_OK);
      }
    }
    ASSERT_EQ(pwrt_p2p_group_end(ctx, comm), PWRT_OK);
    ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
    for (size_t i = 0; i < small; ++i)
      ASSERT_EQ(in0[i], patternByte(prev, rank, 0, i)) << i;
    for (size_t i = 0; i < large; ++i)
      ASSERT_EQ(in1[i], patternByte(prev, rank, 1, i)) << i;
  }
}

TEST_F(Mpi, GroupedAllToAll) {
  // One group per rank: a message of a different size to and from every
  // other rank.
  auto bytesFor = [](int from, int to) { return size_t(64 * (from + 1) + to); };
  std::vector<std::vector<uint8_t>> out(static_cast<size_t>(size)),
      in(static_cast<size_t>(size));
  pwrt_stream comm = stream("comm");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_p2p_group_begin(ctx, comm), PWRT_OK);
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank)
      continue;
    out[size_t(peer)].resize(bytesFor(rank, peer));
    for (size_t i = 0; i < out[size_t(peer)].size(); ++i)
      out[size_t(peer)][i] = patternByte(rank, peer, 7, i);
    in[size_t(peer)].resize(bytesFor(peer, rank));
    pwrt_transfer send =
        message(out[size_t(peer)].data(), out[size_t(peer)].size(), peer, 7);
    pwrt_transfer recv =
        message(in[size_t(peer)].data(), in[size_t(peer)].size(), peer, 7);
    ASSERT_EQ(pwrt_send(ctx, comm, &send), PWRT_OK);
    ASSERT_EQ(pwrt_recv(ctx, comm, &recv), PWRT_OK);
  }
  ASSERT_EQ(pwrt_p2p_group_end(ctx, comm), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  for (int peer = 0; peer < size; ++peer)
    for (size_t i = 0; i < in[size_t(peer)].size(); ++i)
      ASSERT_EQ(in[size_t(peer)][i], patternByte(peer, rank, 7, i))
          << "from " << peer;
}

//===----------------------------------------------------------------------===//
// Schedules end to end
//===----------------------------------------------------------------------===//

class MpiSchedule : public Mpi,
                    public ::testing::WithParamInterface<const char *> {};

TEST_P(MpiSchedule, EveryMessageReachesItsConsumer) {
  std::string kind = GetParam();
  if (kind == "dualpipe" && size % 2 != 0)
    GTEST_SKIP() << "dualpipe needs an even number of ranks";
  pipeweave::schedule::Schedule schedule;
  int stagesPerRank = kind == "interleaved-1f1b" ? 2 : 0;
  std::string problem = pwrt::testing::buildSchedule(kind, size, 2 * size,
                                                     schedule, stagesPerRank);
  ASSERT_EQ(problem, "");
  ScheduleRunner runner;
  RunnerOptions options;
  options.messageBytes = 4096 + 8;
  ASSERT_EQ(runner.setUp(ctx, schedule, options), PWRT_OK)
      << pwrt_last_error(ctx);
  const auto &names = ScheduleRunner::kernelNames();
  ASSERT_EQ(pwrt_require_kernels(ctx, names.data(), names.size()), PWRT_OK);
  EXPECT_GT(runner.computeActions(), 0u);
  if (size > 1)
    EXPECT_GT(runner.transfers(), 0u);
  for (int step = 0; step < 2; ++step)
    ASSERT_EQ(runner.runStep(), PWRT_OK) << pwrt_last_error(ctx);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, MpiSchedule,
                         ::testing::Values("gpipe", "1f1b", "interleaved-1f1b",
                                           "zb-h1", "zb-v", "dualpipe",
                                           "dualpipev"),
                         [](const auto &info) {
                           std::string name = info.param;
                           for (char &c : name)
                             if (c == '-')
                               c = '_';
                           return name;
                         });

//===----------------------------------------------------------------------===//
// Overlap
//===----------------------------------------------------------------------===//

struct OverlapClock {
  Clock::time_point begin;
  std::atomic<int64_t> computeDoneUs{-1};
  std::atomic<int64_t> receivedUs{-1};
};

pwrt_status overlapKernel(const pwrt_kernel_args *args) {
  auto *clock = static_cast<OverlapClock *>(args->user_data);
  auto sinceBegin = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                 clock->begin)
        .count();
  };
  switch (args->kind) {
  case PWRT_ACTION_FORWARD: // compute work
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock->computeDoneUs = sinceBegin();
    break;
  case PWRT_ACTION_OTHER: // runs right after the receive, on comm
    clock->receivedUs = sinceBegin();
    break;
  default: // rank 1 delays its send
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  return PWRT_OK;
}

TEST_F(Mpi, TransferInFlightDoesNotBlockCompute) {
  // Rank 1 sends only after 400 ms. Meanwhile rank 0's comm stream waits
  // in the receive and its compute stream runs ten 5 ms kernels: they must
  // all finish long before the receive completes.
  OverlapClock clock;
  pwrt_kernel kernel;
  ASSERT_EQ(pwrt_register_kernel(ctx, "work", overlapKernel, &clock, &kernel),
            PWRT_OK);
  pwrt_stream compute = stream("compute"), comm = stream("comm");
  pwrt_event delayed = event();
  std::vector<char> buffer(1 << 20);
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  clock.begin = Clock::now();
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  if (rank == 0) {
    pwrt_transfer in = message(buffer.data(), buffer.size(), 1, 0);
    ASSERT_EQ(pwrt_recv(ctx, comm, &in), PWRT_OK);
    args.kind = PWRT_ACTION_OTHER;
    ASSERT_EQ(pwrt_launch(ctx, comm, kernel, &args), PWRT_OK);
    args.kind = PWRT_ACTION_FORWARD;
    for (int i = 0; i < 10; ++i)
      ASSERT_EQ(pwrt_launch(ctx, compute, kernel, &args), PWRT_OK);
  } else if (rank == 1) {
    args.kind = PWRT_ACTION_BACKWARD;
    ASSERT_EQ(pwrt_launch(ctx, compute, kernel, &args), PWRT_OK);
    ASSERT_EQ(pwrt_event_record(ctx, compute, delayed), PWRT_OK);
    ASSERT_EQ(pwrt_stream_wait_event(ctx, comm, delayed), PWRT_OK);
    pwrt_transfer out = message(buffer.data(), buffer.size(), 0, 0);
    ASSERT_EQ(pwrt_send(ctx, comm, &out), PWRT_OK);
  }
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  if (rank != 0)
    return;
  EXPECT_GE(clock.receivedUs.load(), 350'000);
  EXPECT_GE(clock.computeDoneUs.load(), 50'000);
  EXPECT_LT(clock.computeDoneUs.load(), 300'000)
      << "compute waited for the transfer";
  EXPECT_LT(clock.computeDoneUs.load(), clock.receivedUs.load());
}

//===----------------------------------------------------------------------===//
// Errors a step recovers from
//===----------------------------------------------------------------------===//

TEST_F(Mpi, KernelFailureStopsEveryRankWithTheSameMessage) {
  pipeweave::schedule::Schedule schedule;
  ASSERT_EQ(pwrt::testing::buildSchedule("1f1b", size, 2 * size, schedule), "");
  ScheduleRunner runner;
  RunnerOptions options;
  options.failAt = ActionRef{PWRT_ACTION_FORWARD, 1, 2};
  options.kernelMicroseconds = 200;
  ASSERT_EQ(runner.setUp(ctx, schedule, options), PWRT_OK);
  auto begin = Clock::now();
  EXPECT_EQ(runner.runStep(), PWRT_ERROR_KERNEL_FAILED);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - begin).count(), 10);
  std::string error = pwrt_last_error(ctx);
  EXPECT_EQ(error.rfind("step 0 failed: rank 1: kernel 'fwd' failed at stage "
                        "1, micro-batch 2 (forward) on stream 'compute': "
                        "kernel failed: injected failure",
                        0),
            0u)
      << error;
  for (const std::string &other : allTexts(error))
    EXPECT_EQ(other, error);

  // The context is still good: the next step works everywhere.
  runner.setFailAt(ActionRef{});
  EXPECT_EQ(runner.runStep(), PWRT_OK) << pwrt_last_error(ctx);
}

pwrt_status emptyKernel(const pwrt_kernel_args *) { return PWRT_OK; }

TEST_F(Mpi, StepFailedWhileEnqueueingStopsEveryRank) {
  // Rank 1 finds a problem half-way through enqueueing: it fails the step
  // and still enqueues its transfers, so nobody waits for them.
  pipeweave::schedule::Schedule schedule;
  ASSERT_EQ(pwrt::testing::buildSchedule("1f1b", size, 2 * size, schedule), "");
  ScheduleRunner runner;
  ASSERT_EQ(runner.setUp(ctx, schedule, RunnerOptions()), PWRT_OK);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  if (rank == 1)
    ASSERT_EQ(pwrt_step_fail(ctx, PWRT_ERROR_INVALID_ARGUMENT,
                             "slot 7 is outside the pool"),
              PWRT_OK);
  ASSERT_EQ(runner.enqueue(), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 0 failed: rank 1: slot 7 is outside the pool");
  EXPECT_EQ(pwrt_step_fail(ctx, PWRT_OK, "late"), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(runner.runStep(), PWRT_OK) << pwrt_last_error(ctx);
}

TEST_F(Mpi, MissingKernelOnOneRankFailsEveryRank) {
  ASSERT_EQ(pwrt_register_kernel(ctx, "fwd", emptyKernel, nullptr, nullptr),
            PWRT_OK);
  if (rank != 1)
    ASSERT_EQ(pwrt_register_kernel(ctx, "loss", emptyKernel, nullptr, nullptr),
              PWRT_OK);
  const char *needed[] = {"fwd", "loss", rank == 0 ? "embed" : "fwd"};
  EXPECT_EQ(pwrt_require_kernels(ctx, needed, 3), PWRT_ERROR_MISSING_KERNEL);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "kernels not registered (checked before the first step): "
               "rank 0: 'embed'; rank 1: 'loss'");
}

TEST_F(Mpi, MessageOfTheWrongSizeFailsTheStepEverywhere) {
  pwrt_stream comm = stream("comm");
  std::vector<char> buffer(256);
  for (size_t sent : {size_t(100), size_t(32)}) {
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    if (rank == 0) {
      pwrt_transfer out = message(buffer.data(), sent, 1, 3);
      ASSERT_EQ(pwrt_send(ctx, comm, &out), PWRT_OK);
    } else if (rank == 1) {
      pwrt_transfer in = message(buffer.data(), 64, 0, 3);
      ASSERT_EQ(pwrt_recv(ctx, comm, &in), PWRT_OK);
    }
    EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_MPI);
    std::string error = pwrt_last_error(ctx);
    EXPECT_NE(error.find("rank 1: recv activation stage -1 mb -1 from rank 0 "
                         "(64 bytes, tag 3)"),
              std::string::npos)
        << error;
    for (const std::string &other : allTexts(error))
      EXPECT_EQ(other, error);
  }
  // MPI is still usable.
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  if (rank < 2) {
    pwrt_transfer m = message(buffer.data(), 64, 1 - rank, 4);
    ASSERT_EQ(rank == 0 ? pwrt_send(ctx, comm, &m) : pwrt_recv(ctx, comm, &m),
              PWRT_OK);
  }
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
}

pwrt_status sleepFor300ms(const pwrt_kernel_args *) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return PWRT_OK;
}

TEST_F(Mpi, StepEndWaitsForEveryRank) {
  pwrt_kernel slow;
  ASSERT_EQ(pwrt_register_kernel(ctx, "slow", sleepFor300ms, nullptr, &slow),
            PWRT_OK);
  pwrt_stream compute = stream("compute");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  if (rank == size - 1) {
    pwrt_kernel_args args;
    std::memset(&args, 0, sizeof(args));
    ASSERT_EQ(pwrt_launch(ctx, compute, slow, &args), PWRT_OK);
  }
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  double seconds = 0;
  ASSERT_EQ(pwrt_step_seconds(ctx, &seconds), PWRT_OK);
  EXPECT_GE(seconds, 0.29);
}

} // namespace
