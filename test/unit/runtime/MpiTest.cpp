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
#include <cstdio>
#include <cstring>
#include <memory>
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

pwrt_status sleepFor300ms(const pwrt_kernel_args *);

/// printf-style formatting for expected messages.
template <typename... Args> std::string fmt(const char *format, Args... args) {
  char buffer[1024];
  std::snprintf(buffer, sizeof(buffer), format, args...);
  return buffer;
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
      args.layer = -1;
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
// All-to-all
//===----------------------------------------------------------------------===//

/// Rows are `rowWords` int64 values; word w of row j that world rank
/// `from` sends to world rank `to` in exchange `tag`.
int64_t rowWord(int from, int to, int tag, int64_t row, size_t word) {
  return int64_t(from) * 1'000'000'000 + int64_t(to) * 10'000'000 +
         int64_t(tag) * 100'000 + row * 100 + int64_t(word);
}

/// One all-to-all's buffers in the format of pwrt.h: a header of one row
/// count per group rank, then rows in group-rank order.
struct Exchange {
  std::vector<int> members; // world ranks by group rank
  size_t rowWords = 1;
  std::vector<int64_t> send, recv;
  int tag = 0;

  /// Fills the send buffer with `counts(toGroupRank)` rows per peer and
  /// room for `recvRows` rows to receive.
  template <typename Counts>
  Exchange(std::vector<int> members, int me, size_t rowWords, int tag,
           Counts &&counts, size_t recvRows)
      : members(std::move(members)), rowWords(rowWords), tag(tag) {
    size_t g = this->members.size();
    send.assign(g, 0);
    for (size_t peer = 0; peer < g; ++peer) {
      int64_t rows = counts(peer);
      send[peer] = rows;
      for (int64_t row = 0; row < rows; ++row)
        for (size_t w = 0; w < rowWords; ++w)
          send.push_back(rowWord(me, this->members[peer], tag, row, w));
    }
    recv.assign(g + recvRows * rowWords, -1);
  }
  pwrt_all_to_all_args args(const char *name = "dispatch") {
    pwrt_all_to_all_args a;
    std::memset(&a, 0, sizeof(a));
    a.send = send.data();
    a.send_bytes = send.size() * sizeof(int64_t);
    a.recv = recv.data();
    a.recv_bytes = recv.size() * sizeof(int64_t);
    a.row_bytes = rowWords * sizeof(int64_t);
    a.name = name;
    a.kind = PWRT_ACTION_FORWARD;
    a.stage = 3;
    a.microbatch = tag;
    a.layer = -1;
    return a;
  }
  /// Checks the receive buffer against what `expected(fromGroupRank)` rows
  /// from each member must look like.
  template <typename Counts> void check(int me, Counts &&expected) const {
    size_t g = members.size();
    size_t offset = g;
    for (size_t peer = 0; peer < g; ++peer) {
      int64_t rows = expected(peer);
      ASSERT_EQ(recv[peer], rows) << "rows from group rank " << peer;
      for (int64_t row = 0; row < rows; ++row)
        for (size_t w = 0; w < rowWords; ++w, ++offset)
          ASSERT_EQ(recv[offset], rowWord(members[peer], me, tag, row, w))
              << "from group rank " << peer << " row " << row << " word " << w;
    }
    if (offset < recv.size())
      EXPECT_EQ(recv[offset], -1) << "written past the received rows";
  }
};

class MpiAllToAll : public Mpi {
protected:
  pwrt_group group(const std::vector<int> &members) {
    pwrt_group id = -1;
    EXPECT_EQ(pwrt_group_create(ctx, members.data(), members.size(), &id),
              PWRT_OK)
        << pwrt_last_error(ctx);
    return id;
  }
  /// The world in reverse: group rank and world rank differ.
  std::vector<int> reversedWorld() const {
    std::vector<int> members;
    for (int r = size - 1; r >= 0; --r)
      members.push_back(r);
    return members;
  }
};

TEST_F(MpiAllToAll, UnevenAndZeroCountsArriveInGroupRankOrder) {
  std::vector<int> members = reversedWorld();
  pwrt_group world = group(members);
  ASSERT_EQ(pwrt_group_size(ctx, world), size);
  ASSERT_EQ(pwrt_group_rank(ctx, world), size - 1 - rank);
  pwrt_stream comm = stream("comm");
  // Counts 0..3 that differ per pair and per exchange (zeros included, to
  // and from itself too); the last exchange moves 1 MiB rows, past the
  // eager limit of MPI's shared-memory transport.
  auto rows = [&](int from, int to, int tag) {
    return int64_t((from * 3 + to * 5 + tag) % 4);
  };
  for (int tag = 0; tag < 4; ++tag) {
    size_t rowWords = tag == 3 ? (1 << 17) : size_t(1 + tag);
    Exchange exchange(
        members, rank, rowWords, tag,
        [&](size_t peer) { return rows(rank, members[peer], tag); },
        size_t(3 * size));
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    pwrt_all_to_all_args args = exchange.args();
    ASSERT_EQ(pwrt_all_to_all(ctx, comm, world, &args), PWRT_OK);
    ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
    exchange.check(rank,
                   [&](size_t peer) { return rows(members[peer], rank, tag); });
  }
}

TEST_F(MpiAllToAll, ExpertParallelPairsExchangeSideBySide) {
  // The layout of a pipeline x expert-parallel job with E = 2: processes
  // 2p and 2p + 1 form one group (the last one alone if the size is odd).
  std::vector<int> pair = {rank - rank % 2};
  if (pair[0] + 1 < size)
    pair.push_back(pair[0] + 1);
  pwrt_group ep = group(pair);
  ASSERT_EQ(pwrt_group_size(ctx, ep), int(pair.size()));
  ASSERT_EQ(pwrt_group_rank(ctx, ep), rank % 2);
  pwrt_stream comm = stream("comm");
  auto rows = [](int from, int to) { return int64_t(1 + from + 2 * to); };
  Exchange exchange(
      pair, rank, 5, 0, [&](size_t peer) { return rows(rank, pair[peer]); },
      64);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_all_to_all_args args = exchange.args();
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, ep, &args), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  exchange.check(rank, [&](size_t peer) { return rows(pair[peer], rank); });
}

TEST_F(MpiAllToAll, ManyInFlightOnTwoStreamsMeetByOrder) {
  // Eight all-to-alls enqueued at once, alternating between two streams
  // with no events; ranks alternate differently, so the n-th all-to-all
  // runs on another stream on each neighbour. They must still meet by
  // their order in the group, and a compute stream keeps running.
  std::vector<int> members = reversedWorld();
  pwrt_group world = group(members);
  pwrt_stream streams[2] = {stream("comm a"), stream("comm b")};
  pwrt_stream compute = stream("compute");
  pwrt_kernel work;
  ASSERT_EQ(pwrt_register_kernel(ctx, "work", sleepFor300ms, nullptr, &work),
            PWRT_OK);
  auto rows = [](int from, int to, int tag) {
    return int64_t((from + 2 * to + 3 * tag) % 5);
  };
  std::vector<std::unique_ptr<Exchange>> exchanges;
  for (int tag = 0; tag < 8; ++tag)
    exchanges.push_back(std::make_unique<Exchange>(
        members, rank, 3 + tag, tag,
        [&](size_t peer) { return rows(rank, members[peer], tag); },
        size_t(4 * size)));
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args kernelArgs;
  std::memset(&kernelArgs, 0, sizeof(kernelArgs));
  kernelArgs.layer = -1;
  ASSERT_EQ(pwrt_launch(ctx, compute, work, &kernelArgs), PWRT_OK);
  for (int tag = 0; tag < 8; ++tag) {
    pwrt_all_to_all_args args = exchanges[size_t(tag)]->args();
    ASSERT_EQ(
        pwrt_all_to_all(ctx, streams[(tag / (1 + rank % 2)) % 2], world, &args),
        PWRT_OK);
  }
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  for (int tag = 0; tag < 8; ++tag)
    exchanges[size_t(tag)]->check(
        rank, [&](size_t peer) { return rows(members[peer], rank, tag); });
}

TEST_F(MpiAllToAll, RowsPastTheLastRanksCapacityFailEveryRankAlike) {
  std::vector<int> members = reversedWorld();
  pwrt_group world = group(members);
  pwrt_stream comm = stream("comm");
  // Every rank sends 2 rows to each member; the last rank has room for
  // one row less than that.
  for (int step = 0; step < 2; ++step) {
    bool overflow = step == 0;
    size_t capacity = size_t(2 * size) - (overflow && rank == size - 1 ? 1 : 0);
    Exchange exchange(
        members, rank, 4, 1, [](size_t) { return 2; }, capacity);
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    pwrt_all_to_all_args args = exchange.args("combine");
    ASSERT_EQ(pwrt_all_to_all(ctx, comm, world, &args), PWRT_OK);
    if (!overflow) {
      // The context is still good after the failed step.
      ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
      exchange.check(rank, [](size_t) { return 2; });
      continue;
    }
    EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_CAPACITY_EXCEEDED);
    std::string counts = "2";
    for (int r = 1; r < size; ++r)
      counts += ", 2";
    std::string expected = fmt(
        "step 0 failed: rank %d: all-to-all 'combine' (forward) at stage 3, "
        "micro-batch 1 on stream 'comm': %d rows of 32 bytes arrive (rows "
        "from group ranks 0..%d: %s) but the receive buffer holds %d bytes "
        "(%d rows after the %d-byte header)",
        size - 1, 2 * size, size - 1, counts.c_str(),
        8 * size + 32 * (2 * size - 1), 2 * size - 1, 8 * size);
    std::string error = pwrt_last_error(ctx);
    EXPECT_EQ(error, expected);
    for (const std::string &other : allTexts(error))
      EXPECT_EQ(other, error);
  }
}

TEST_F(MpiAllToAll, RowSizesThatDisagreeFailTheStep) {
  if (size < 2)
    GTEST_SKIP();
  std::vector<int> members = reversedWorld();
  pwrt_group world = group(members);
  pwrt_stream comm = stream("comm");
  Exchange exchange(
      members, rank, rank == 0 ? 2 : 3, 0, [](size_t) { return 1; },
      size_t(size));
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_all_to_all_args args = exchange.args();
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, world, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_INVALID_ARGUMENT);
  std::string error = pwrt_last_error(ctx);
  EXPECT_NE(error.find("sends rows of "), std::string::npos) << error;
  for (const std::string &other : allTexts(error))
    EXPECT_EQ(other, error);
}

pwrt_status failOnRankZero(const pwrt_kernel_args *args) {
  if (args->rank != 0)
    return PWRT_OK;
  pwrt_kernel_set_error(args, "router failed");
  return PWRT_ERROR_KERNEL_FAILED;
}

TEST_F(MpiAllToAll, KernelFailureBeforeAnAllToAllStillCompletesIt) {
  // Rank 0's kernel that would write the send buffer fails; the exchange
  // after it still runs everywhere (with no rows from rank 0, whose
  // header is garbage), so every rank ends the step with the kernel's
  // error instead of waiting.
  std::vector<int> members = reversedWorld();
  pwrt_group world = group(members);
  pwrt_stream compute = stream("compute"), comm = stream("comm");
  pwrt_event written = event();
  pwrt_kernel prep;
  ASSERT_EQ(pwrt_register_kernel(ctx, "prep", failOnRankZero, nullptr, &prep),
            PWRT_OK);
  Exchange exchange(
      members, rank, 2, 0, [](size_t) { return 1; }, size_t(size));
  if (rank == 0)
    exchange.send[0] = -7; // never used: the step has failed
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args kernelArgs;
  std::memset(&kernelArgs, 0, sizeof(kernelArgs));
  kernelArgs.layer = -1;
  kernelArgs.stage = 3;
  ASSERT_EQ(pwrt_launch(ctx, compute, prep, &kernelArgs), PWRT_OK);
  ASSERT_EQ(pwrt_event_record(ctx, compute, written), PWRT_OK);
  ASSERT_EQ(pwrt_stream_wait_event(ctx, comm, written), PWRT_OK);
  pwrt_all_to_all_args args = exchange.args();
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, world, &args), PWRT_OK);
  auto begin = Clock::now();
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_KERNEL_FAILED);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - begin).count(), 10);
  std::string error = pwrt_last_error(ctx);
  EXPECT_EQ(error, "step 0 failed: rank 0: kernel 'prep' failed at stage 3, "
                   "micro-batch 0 (forward) on stream 'compute': kernel "
                   "failed: router failed");
  for (const std::string &other : allTexts(error))
    EXPECT_EQ(other, error);
}

TEST_F(MpiAllToAll, GroupsThatDisagreeFailEveryRankAlike) {
  if (size < 2)
    GTEST_SKIP();
  // Rank 0 lists {0, 1}; rank 1 lists {1, 0}: the same members in another
  // order are another group.
  std::vector<int> members = {rank, (rank + 1) % size};
  pwrt_group id = -1;
  EXPECT_EQ(pwrt_group_create(ctx, members.data(), members.size(), &id),
            PWRT_ERROR_INVALID_ARGUMENT);
  std::string error = pwrt_last_error(ctx);
  EXPECT_EQ(error.rfind("pwrt_group_create: the ranks' groups do not agree: "
                        "rank 0 lists {0, 1} but rank 1 lists {1, ",
                        0),
            0u)
      << error;
  for (const std::string &other : allTexts(error))
    EXPECT_EQ(other, error);
  // A good partition afterwards works and is group 0.
  std::vector<int> world = reversedWorld();
  EXPECT_EQ(group(world), 0);
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
  args.layer = -1;
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
    args.layer = -1;
    ASSERT_EQ(pwrt_launch(ctx, compute, slow, &args), PWRT_OK);
  }
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  double seconds = 0;
  ASSERT_EQ(pwrt_step_seconds(ctx, &seconds), PWRT_OK);
  EXPECT_GE(seconds, 0.29);
}

} // namespace
