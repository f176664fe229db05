//===- CudaFakeTest.cpp - The CUDA backend's host logic on a fake CUDA ----===//
//
// The real CUDA backend, linked with FakeCuda.cpp instead of the CUDA
// runtime and NCCL: work runs as it is enqueued, device memory is host
// memory (see FakeCuda.cpp). What this proves on a machine without a GPU:
// contexts in both modes, kernels getting a stream, the local transport
// and NCCL groups moving the right bytes, every rank returning the same
// failure, lost peers named after the timeout, the NCCL order check, the
// trace and its overlap line, and the four compiled MLP schedules giving
// the sequential step's gradients through the CUDA backend's bookkeeping
// (ranks in one process, on one fake GPU and on eight). What it cannot
// prove: anything about real GPUs (asynchrony, NCCL itself); the GPU tests
// in cuda/ do that where a GPU exists.
//
//===----------------------------------------------------------------------===//

#include "Model.h"
#include "Programs.h"
#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Fake devices and waits for the scope of a test.
struct FakeMachine {
  explicit FakeMachine(int devices, int ncclWaitMs = 3000) {
    ::setenv("FAKE_CUDA_DEVICES", std::to_string(devices).c_str(), 1);
    ::setenv("FAKE_NCCL_WAIT_MS", std::to_string(ncclWaitMs).c_str(), 1);
  }
  ~FakeMachine() {
    ::unsetenv("FAKE_CUDA_DEVICES");
    ::unsetenv("FAKE_NCCL_WAIT_MS");
    ::unsetenv("PW_CUDA_TRANSPORT");
  }
};

float valueOf(int stage, int microbatch) {
  return float(stage * 1000 + microbatch);
}

pwrt_status fillKernel(const pwrt_kernel_args *args) {
  if (!args->native_stream)
    return PWRT_ERROR_KERNEL_FAILED;
  const pwrt_buffer &out = args->outputs[0];
  float *data = static_cast<float *>(out.data);
  for (size_t i = 0; i < out.bytes / sizeof(float); ++i)
    data[i] = valueOf(args->stage, args->microbatch);
  return PWRT_OK;
}

pwrt_status maybeFailKernel(const pwrt_kernel_args *args) {
  if (args->stage == 1 && args->microbatch == 2) {
    pwrt_kernel_set_error(args, "injected failure");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  return fillKernel(args);
}

pwrt_context_options cudaOptions(double timeout = 30) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.timeout_seconds = timeout;
  options.trace_path = "";
  options.flags = PWRT_FLAG_QUIET;
  return options;
}

/// A rank with `slots` slots of 256 floats, streams compute and comm.
struct Rank {
  pwrt_context *ctx = nullptr;
  pwrt_stream compute = -1, comm = -1;
  pwrt_event event = -1;
  pwrt_kernel fill = -1, maybeFail = -1;
  std::vector<float *> slots;
  static constexpr size_t kBytes = 256 * sizeof(float);

  void setUp(pwrt_context *context, int numSlots) {
    ctx = context;
    ASSERT_EQ(pwrt_register_kernel(ctx, "fill", fillKernel, nullptr, &fill),
              PWRT_OK);
    ASSERT_EQ(pwrt_register_kernel(ctx, "maybe_fail", maybeFailKernel, nullptr,
                                   &maybeFail),
              PWRT_OK);
    ASSERT_EQ(pwrt_pool_create(ctx, kBytes * size_t(numSlots), 0), PWRT_OK);
    for (int s = 0; s < numSlots; ++s) {
      void *slot = nullptr;
      ASSERT_EQ(pwrt_buffer_at(ctx, kBytes * size_t(s), kBytes, &slot),
                PWRT_OK);
      slots.push_back(static_cast<float *>(slot));
    }
    ASSERT_EQ(pwrt_stream_create(ctx, "compute", &compute), PWRT_OK);
    ASSERT_EQ(pwrt_stream_create(ctx, "comm", &comm), PWRT_OK);
    ASSERT_EQ(pwrt_event_create(ctx, &event), PWRT_OK);
  }
  pwrt_status launch(pwrt_kernel kernel, int stage, int microbatch, int out) {
    pwrt_buffer output = {slots[size_t(out)], kBytes};
    pwrt_kernel_args args = {};
    args.kind = PWRT_ACTION_FORWARD;
    args.stage = stage;
    args.microbatch = microbatch;
    args.stage2 = args.microbatch2 = -1;
    args.layer = -1;
    args.outputs = &output;
    args.num_outputs = 1;
    return pwrt_launch(ctx, compute, kernel, &args);
  }
  pwrt_status computeThenComm() {
    pwrt_status status = pwrt_event_record(ctx, compute, event);
    return status == PWRT_OK ? pwrt_stream_wait_event(ctx, comm, event)
                             : status;
  }
  pwrt_transfer transfer(int slot, int peer, int tag) const {
    return pwrt_transfer{slots[size_t(slot)],     kBytes, peer, tag,
                         PWRT_PAYLOAD_ACTIVATION, 0,      0};
  }
  bool holds(int slot, float value) const {
    for (size_t i = 0; i < kBytes / sizeof(float); ++i)
      if (slots[size_t(slot)][i] != value)
        return false;
    return true;
  }
};

std::vector<pwrt_context *> contextsOf(int count,
                                       const pwrt_context_options &options,
                                       std::vector<int32_t> devices = {}) {
  std::vector<pwrt_context *> contexts(size_t(count), nullptr);
  EXPECT_EQ(pwrt_cuda_contexts_create(
                &options, count, devices.empty() ? nullptr : devices.data(),
                contexts.data()),
            PWRT_OK)
      << pwrt_last_error(nullptr);
  return contexts;
}

/// Runs body(rank, ctx) on a thread per context, then destroys them
/// (unless `destroy` is false).
void onThreads(const std::vector<pwrt_context *> &contexts,
               const std::function<void(int, pwrt_context *)> &body,
               std::vector<pwrt_status> *destroyed = nullptr,
               bool destroy = true) {
  std::vector<std::thread> threads;
  std::vector<pwrt_status> results(contexts.size(), PWRT_OK);
  for (size_t r = 0; r < contexts.size(); ++r)
    threads.emplace_back([&, r] {
      body(int(r), contexts[r]);
      if (destroy)
        results[r] = pwrt_context_destroy(contexts[r]);
    });
  for (std::thread &thread : threads)
    thread.join();
  if (destroyed)
    *destroyed = results;
}

TEST(CudaFake, OneRankSendsToItselfOverNcclAndLocal) {
  for (const char *transport : {"nccl", "local"}) {
    FakeMachine machine(1);
    ::setenv("PW_CUDA_TRANSPORT", transport, 1);
    pwrt_context_options options = cudaOptions();
    pwrt_context *ctx = nullptr;
    ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK)
        << pwrt_last_error(nullptr);
    EXPECT_EQ(pwrt_cuda_device(ctx), 0);
    Rank rank;
    rank.setUp(ctx, 2);
    for (int step = 0; step < 3; ++step) {
      ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
      ASSERT_EQ(rank.launch(rank.fill, 7, step, 0), PWRT_OK);
      ASSERT_EQ(rank.computeThenComm(), PWRT_OK);
      pwrt_transfer send = rank.transfer(0, 0, 5),
                    recv = rank.transfer(1, 0, 5);
      ASSERT_EQ(pwrt_p2p_group_begin(ctx, rank.comm), PWRT_OK);
      ASSERT_EQ(pwrt_send(ctx, rank.comm, &send), PWRT_OK);
      ASSERT_EQ(pwrt_recv(ctx, rank.comm, &recv), PWRT_OK);
      ASSERT_EQ(pwrt_p2p_group_end(ctx, rank.comm), PWRT_OK);
      ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
      EXPECT_TRUE(rank.holds(1, valueOf(7, step))) << transport;
    }
    EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
  }
}

/// A ring plus a swap with a partner in one group, on `devices` fake GPUs.
void ring(int ranks, int devices) {
  FakeMachine machine(devices);
  std::vector<pwrt_context *> contexts = contextsOf(ranks, cudaOptions());
  ASSERT_EQ(contexts.size(), size_t(ranks));
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    rank.setUp(ctx, 3);
    int next = (r + 1) % ranks, previous = (r + ranks - 1) % ranks;
    int partner = r ^ 1;
    for (int step = 0; step < 3; ++step) {
      ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
      ASSERT_EQ(rank.launch(rank.fill, r, step, 0), PWRT_OK);
      ASSERT_EQ(rank.computeThenComm(), PWRT_OK);
      ASSERT_EQ(pwrt_p2p_group_begin(ctx, rank.comm), PWRT_OK);
      pwrt_transfer toNext = rank.transfer(0, next, 1);
      pwrt_transfer fromPrevious = rank.transfer(1, previous, 1);
      ASSERT_EQ(pwrt_send(ctx, rank.comm, &toNext), PWRT_OK);
      ASSERT_EQ(pwrt_recv(ctx, rank.comm, &fromPrevious), PWRT_OK);
      if (partner < ranks) {
        pwrt_transfer toPartner = rank.transfer(0, partner, 2);
        pwrt_transfer fromPartner = rank.transfer(2, partner, 2);
        ASSERT_EQ(pwrt_recv(ctx, rank.comm, &fromPartner), PWRT_OK);
        ASSERT_EQ(pwrt_send(ctx, rank.comm, &toPartner), PWRT_OK);
      }
      ASSERT_EQ(pwrt_p2p_group_end(ctx, rank.comm), PWRT_OK);
      ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
      EXPECT_TRUE(rank.holds(1, valueOf(previous, step)));
      if (partner < ranks)
        EXPECT_TRUE(rank.holds(2, valueOf(partner, step)));
    }
  });
}

TEST(CudaFake, RingOnOneGpuUsesTheLocalTransport) { ring(4, 1); }
TEST(CudaFake, RingOnFourGpusUsesNccl) { ring(4, 4); }
TEST(CudaFake, RingOnTwoGpusSharesThem) { ring(5, 2); }

TEST(CudaFake, AKernelFailureIsTheSameOnEveryRank) {
  for (int devices : {1, 3}) {
    FakeMachine machine(devices);
    std::vector<pwrt_context *> contexts = contextsOf(3, cudaOptions());
    ASSERT_EQ(contexts.size(), 3u);
    std::vector<std::string> messages(3);
    onThreads(contexts, [&](int r, pwrt_context *ctx) {
      Rank rank;
      rank.setUp(ctx, 2);
      for (int step = 0; step < 2; ++step) {
        ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
        ASSERT_EQ(rank.launch(rank.maybeFail, r, 2 + step, 0), PWRT_OK);
        ASSERT_EQ(rank.computeThenComm(), PWRT_OK);
        pwrt_transfer send = rank.transfer(0, (r + 1) % 3, 4);
        pwrt_transfer recv = rank.transfer(1, (r + 2) % 3, 4);
        ASSERT_EQ(pwrt_p2p_group_begin(ctx, rank.comm), PWRT_OK);
        ASSERT_EQ(pwrt_send(ctx, rank.comm, &send), PWRT_OK);
        ASSERT_EQ(pwrt_recv(ctx, rank.comm, &recv), PWRT_OK);
        ASSERT_EQ(pwrt_p2p_group_end(ctx, rank.comm), PWRT_OK);
        pwrt_status status = pwrt_step_end(ctx);
        if (step == 0) {
          EXPECT_EQ(status, PWRT_ERROR_KERNEL_FAILED);
          messages[size_t(r)] = pwrt_last_error(ctx);
        } else {
          EXPECT_EQ(status, PWRT_OK) << pwrt_last_error(ctx);
        }
      }
    });
    for (const std::string &message : messages)
      EXPECT_EQ(message, "step 0 failed: rank 1: kernel 'maybe_fail' failed "
                         "at stage 1, micro-batch 2 (forward) on stream "
                         "'compute': kernel failed: injected failure");
  }
}

/// Rank 0 waits for a message that rank 1 never sends.
void lostPeer(int devices, const std::string &expected) {
  FakeMachine machine(devices, /*ncclWaitMs=*/200);
  std::vector<pwrt_context *> contexts = contextsOf(2, cudaOptions(1.0));
  ASSERT_EQ(contexts.size(), 2u);
  std::vector<std::string> messages(2);
  std::vector<pwrt_status> destroyed;
  auto start = std::chrono::steady_clock::now();
  onThreads(
      contexts,
      [&](int r, pwrt_context *ctx) {
        Rank rank;
        rank.setUp(ctx, 1);
        ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
        if (r == 0) {
          pwrt_transfer recv = rank.transfer(0, 1, 9);
          ASSERT_EQ(pwrt_recv(ctx, rank.comm, &recv), PWRT_OK);
        } else {
          // Rank 0 must time out first: it knows what it waits for.
          std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        }
        EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_PEER_LOST);
        messages[size_t(r)] = pwrt_last_error(ctx);
      },
      &destroyed);
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      10.0);
  for (const std::string &message : messages)
    EXPECT_EQ(message, expected);
  EXPECT_EQ(destroyed, (std::vector<pwrt_status>{PWRT_ERROR_PEER_LOST,
                                                 PWRT_ERROR_PEER_LOST}));
}

TEST(CudaFake, APeerThatNeverSendsIsLostLocal) {
  lostPeer(1, "step 0 failed: rank 0: no progress for 1.0 s while waiting on "
              "rank 1, presumed lost: recv activation stage 0 mb 0 from rank "
              "1 (1024 bytes, tag 9) on stream 'comm'");
}

TEST(CudaFake, APeerThatNeverSendsIsLostNccl) {
  lostPeer(2, "step 0 failed: rank 0: no progress for 1.0 s while waiting on "
              "rank 1, presumed lost: NCCL did not finish ncclGroupEnd "
              "(running recv activation stage 0 mb 0 from rank 1 (1024 "
              "bytes, tag 9) on stream 'comm')");
}

TEST(CudaFake, MessagesInAnotherOrderFailEveryRank) {
  FakeMachine machine(2);
  std::vector<pwrt_context *> contexts = contextsOf(2, cudaOptions());
  ASSERT_EQ(contexts.size(), 2u);
  std::vector<std::string> messages(2);
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    rank.setUp(ctx, 2);
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    for (int tag : {1, 2}) {
      pwrt_transfer t = rank.transfer(tag - 1, 1 - r, r == 0 ? tag : 3 - tag);
      ASSERT_EQ(r == 0 ? pwrt_send(ctx, rank.comm, &t)
                       : pwrt_recv(ctx, rank.comm, &t),
                PWRT_OK);
    }
    EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_DEVICE);
    messages[size_t(r)] = pwrt_last_error(ctx);
    // Fatal: later steps fail with the same error.
    EXPECT_EQ(pwrt_step_begin(ctx), PWRT_ERROR_DEVICE);
  });
  for (const std::string &message : messages)
    EXPECT_EQ(message,
              "step 0 failed: the messages from rank 0 to rank 1 do not pair "
              "up: rank 0 sent 2 and rank 1 received 2, in another order or "
              "of other sizes; NCCL pairs messages by their order, so both "
              "ends must issue the same sizes in the same order");
}

//===----------------------------------------------------------------------===//
// All-to-all
//===----------------------------------------------------------------------===//

/// Rows sent from group rank `from` to group rank `to` in `step`: uneven,
/// some zero (independent of the backend: the test's own plan).
int64_t rowsBetween(int from, int to, int step) {
  return (from + 2 * to + step) % 3;
}

/// One 8-byte row: who sent it, to whom, which of them, in which step.
int64_t rowValue(int from, int to, int index, int step) {
  return 1000000 * step + 10000 * from + 100 * to + index;
}

struct RouteData {
  int groupRank = 0;
  int groupSize = 0;
  int step = 0;
  int failAtStep = -1; // the kernel fails in this step
};

/// Writes the send buffer (outputs[0]): header then rows, as planned by
/// rowsBetween; it runs on the all-to-all's stream, before it.
pwrt_status routeKernel(const pwrt_kernel_args *args) {
  auto &data = *static_cast<RouteData *>(args->user_data);
  if (data.step == data.failAtStep) {
    pwrt_kernel_set_error(args, "injected failure");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  auto *out = static_cast<int64_t *>(args->outputs[0].data);
  int64_t *row = out + data.groupSize;
  for (int to = 0; to < data.groupSize; ++to) {
    out[to] = rowsBetween(data.groupRank, to, data.step);
    for (int i = 0; i < out[to]; ++i)
      *row++ = rowValue(data.groupRank, to, i, data.step);
  }
  return PWRT_OK;
}

/// A rank with a send and a receive buffer for all-to-alls in `group`.
struct ExchangeRank {
  pwrt_context *ctx = nullptr;
  pwrt_stream comm = -1;
  pwrt_kernel route = -1;
  pwrt_group group = -1;
  RouteData data;
  int64_t *send = nullptr, *recv = nullptr;
  size_t sendBytes = 0, recvBytes = 0;

  void setUp(pwrt_context *context, const std::vector<int32_t> &members,
             size_t recvRows, size_t sendRows = 16) {
    ctx = context;
    ASSERT_EQ(pwrt_group_create(ctx, members.data(), members.size(), &group),
              PWRT_OK)
        << pwrt_last_error(ctx);
    data.groupRank = pwrt_group_rank(ctx, group);
    data.groupSize = pwrt_group_size(ctx, group);
    ASSERT_EQ(pwrt_register_kernel(ctx, "route", routeKernel, &data, &route),
              PWRT_OK);
    size_t header = size_t(data.groupSize) * sizeof(int64_t);
    sendBytes = header + sendRows * sizeof(int64_t);
    recvBytes = header + recvRows * sizeof(int64_t);
    size_t sendSlot = (sendBytes + 255) / 256 * 256;
    ASSERT_EQ(pwrt_pool_create(ctx, sendSlot + recvBytes, 0), PWRT_OK);
    void *at = nullptr;
    ASSERT_EQ(pwrt_buffer_at(ctx, 0, sendBytes, &at), PWRT_OK);
    send = static_cast<int64_t *>(at);
    ASSERT_EQ(pwrt_buffer_at(ctx, sendSlot, recvBytes, &at), PWRT_OK);
    recv = static_cast<int64_t *>(at);
    ASSERT_EQ(pwrt_stream_create(ctx, "comm", &comm), PWRT_OK);
  }

  /// One step: route, then all-to-all 'dispatch' at stage 1, mb 2, layer 0.
  pwrt_status step(int step) {
    data.step = step;
    EXPECT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    pwrt_buffer output = {send, sendBytes};
    pwrt_kernel_args launch = {};
    launch.kind = PWRT_ACTION_FORWARD;
    launch.stage = 1;
    launch.microbatch = 2;
    launch.stage2 = launch.microbatch2 = -1;
    launch.layer = 0;
    launch.outputs = &output;
    launch.num_outputs = 1;
    EXPECT_EQ(pwrt_launch(ctx, comm, route, &launch), PWRT_OK);
    pwrt_all_to_all_args args = {};
    args.send = send;
    args.send_bytes = sendBytes;
    args.recv = recv;
    args.recv_bytes = recvBytes;
    args.row_bytes = sizeof(int64_t);
    args.name = "dispatch";
    args.kind = PWRT_ACTION_FORWARD;
    args.stage = 1;
    args.microbatch = 2;
    args.layer = 0;
    EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK)
        << pwrt_last_error(ctx);
    return pwrt_step_end(ctx);
  }

  /// Whether the receive buffer holds what rowsBetween plans for `step`.
  void expectReceived(int step) const {
    const int64_t *row = recv + data.groupSize;
    for (int from = 0; from < data.groupSize; ++from) {
      int64_t count = rowsBetween(from, data.groupRank, step);
      ASSERT_EQ(recv[from], count) << "from group rank " << from;
      for (int i = 0; i < count; ++i)
        EXPECT_EQ(*row++, rowValue(from, data.groupRank, i, step))
            << "row " << i << " from group rank " << from;
    }
  }
};

/// `ranks` ranks on `devices` fake GPUs in groups of `groupSize`
/// consecutive ranks, three steps of uneven all-to-alls.
void exchange(int ranks, int devices, int groupSize) {
  FakeMachine machine(devices);
  std::vector<pwrt_context *> contexts = contextsOf(ranks, cudaOptions());
  ASSERT_EQ(contexts.size(), size_t(ranks));
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    std::vector<int32_t> members;
    for (int m = r / groupSize * groupSize; m < (r / groupSize + 1) * groupSize;
         ++m)
      members.push_back(m);
    ExchangeRank rank;
    rank.setUp(ctx, members, /*recvRows=*/2 * size_t(groupSize));
    for (int step = 0; step < 3; ++step) {
      ASSERT_EQ(rank.step(step), PWRT_OK) << pwrt_last_error(ctx);
      rank.expectReceived(step);
    }
  });
}

TEST(CudaFake, AllToAllOfTwoOverNccl) { exchange(2, 2, 2); }
TEST(CudaFake, AllToAllOfThreeOverNccl) { exchange(3, 3, 3); }
TEST(CudaFake, AllToAllOfFourOverNccl) { exchange(4, 4, 4); }
TEST(CudaFake, AllToAllInPairsOverNccl) { exchange(4, 4, 2); }
TEST(CudaFake, AllToAllOfFourOnOneSharedGpu) { exchange(4, 1, 4); }
TEST(CudaFake, AllToAllOfThreeOnOneSharedGpu) { exchange(3, 1, 3); }
TEST(CudaFake, AllToAllInPairsOnOneSharedGpu) { exchange(4, 1, 2); }
TEST(CudaFake, AllToAllOfOneCopiesItsOwnRows) { exchange(1, 1, 1); }

/// Rank 1's receive buffer holds 2 rows in step 0, where (see rowsBetween)
/// 3 arrive: (0 + 2) % 3 = 2 from group rank 0, 0 from itself and 1 from
/// group rank 2. Every rank fails the step with the same message; the next
/// step, with room for 6 rows, works.
void receiveOverflow(int devices) {
  FakeMachine machine(devices);
  std::vector<pwrt_context *> contexts = contextsOf(3, cudaOptions());
  ASSERT_EQ(contexts.size(), 3u);
  std::vector<std::string> messages(3);
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    ExchangeRank rank;
    rank.setUp(ctx, {0, 1, 2}, /*recvRows=*/6);
    size_t roomy = rank.recvBytes;
    if (r == 1)
      rank.recvBytes = 3 * sizeof(int64_t) + 2 * sizeof(int64_t);
    EXPECT_EQ(rank.step(0), PWRT_ERROR_CAPACITY_EXCEEDED);
    messages[size_t(r)] = pwrt_last_error(ctx);
    rank.recvBytes = roomy;
    ASSERT_EQ(rank.step(1), PWRT_OK) << pwrt_last_error(ctx);
    rank.expectReceived(1);
  });
  for (const std::string &message : messages)
    EXPECT_EQ(message,
              "step 0 failed: rank 1: all-to-all 'dispatch' (forward) at "
              "stage 1, micro-batch 2, layer 0 on stream 'comm': 3 rows of 8 "
              "bytes arrive (rows from group ranks 0..2: 2, 0, 1) but the "
              "receive buffer holds 40 bytes (2 rows after the 24-byte "
              "header)");
}

TEST(CudaFake, AllToAllReceiveOverflowFailsEveryRankNccl) {
  receiveOverflow(3);
}
TEST(CudaFake, AllToAllReceiveOverflowFailsEveryRankLocal) {
  receiveOverflow(1);
}

/// Rank 0's send buffer holds 1 row but its header lists 0 + 2 = 2 (step
/// 0, group of two): it sends nothing, and every rank fails alike.
TEST(CudaFake, AllToAllSendOverflowFailsEveryRank) {
  FakeMachine machine(2);
  std::vector<pwrt_context *> contexts = contextsOf(2, cudaOptions());
  ASSERT_EQ(contexts.size(), 2u);
  std::vector<std::string> messages(2);
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    ExchangeRank rank;
    rank.setUp(ctx, {0, 1}, /*recvRows=*/8, /*sendRows=*/r == 0 ? 1 : 8);
    EXPECT_EQ(rank.step(0), PWRT_ERROR_CAPACITY_EXCEEDED);
    messages[size_t(r)] = pwrt_last_error(ctx);
    // Nothing came from rank 0.
    if (r == 1)
      EXPECT_EQ(rank.recv[0], 0);
  });
  for (const std::string &message : messages)
    EXPECT_EQ(message,
              "step 0 failed: rank 0: all-to-all 'dispatch' (forward) at "
              "stage 1, micro-batch 2, layer 0 on stream 'comm': the send "
              "header lists 2 rows of 8 bytes (rows for group ranks 0..1: 0, "
              "2) but the send buffer holds 24 bytes (1 rows after the "
              "16-byte header)");
}

/// The route kernel fails on rank 2 in step 0: its all-to-all still runs
/// but sends nothing (the others receive 0 rows from it), every rank fails
/// with the kernel's message, and step 1 works.
TEST(CudaFake, AllToAllAfterAFailureSendsNothing) {
  for (int devices : {1, 3}) {
    FakeMachine machine(devices);
    std::vector<pwrt_context *> contexts = contextsOf(3, cudaOptions());
    ASSERT_EQ(contexts.size(), 3u);
    std::vector<std::string> messages(3);
    onThreads(contexts, [&](int r, pwrt_context *ctx) {
      ExchangeRank rank;
      rank.setUp(ctx, {0, 1, 2}, /*recvRows=*/6);
      if (r == 2)
        rank.data.failAtStep = 0;
      EXPECT_EQ(rank.step(0), PWRT_ERROR_KERNEL_FAILED);
      messages[size_t(r)] = pwrt_last_error(ctx);
      EXPECT_EQ(rank.recv[2], 0) << "rank " << r;
      ASSERT_EQ(rank.step(1), PWRT_OK) << pwrt_last_error(ctx);
      rank.expectReceived(1);
    });
    for (const std::string &message : messages)
      EXPECT_EQ(message, "step 0 failed: rank 2: kernel 'route' failed at "
                         "stage 1, micro-batch 2, layer 0 (forward) on stream "
                         "'comm': kernel failed: injected failure");
  }
}

/// A member that never takes part: the others name it, as a lost peer.
void missingPeer(int devices) {
  FakeMachine machine(devices, /*ncclWaitMs=*/200);
  pwrt_context_options options = cudaOptions(/*timeout=*/1);
  std::vector<pwrt_context *> contexts = contextsOf(2, options);
  ASSERT_EQ(contexts.size(), 2u);
  std::vector<pwrt_status> destroyed;
  std::string message;
  onThreads(
      contexts,
      [&](int r, pwrt_context *ctx) {
        ExchangeRank rank;
        rank.setUp(ctx, {0, 1}, 8);
        if (r == 0) {
          EXPECT_EQ(rank.step(0), PWRT_ERROR_PEER_LOST);
          message = pwrt_last_error(ctx);
        } else {
          // Rank 1 ends its step without the all-to-all, late enough
          // that rank 0 times out first.
          EXPECT_EQ(pwrt_step_begin(ctx), PWRT_OK);
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_PEER_LOST);
        }
      },
      &destroyed);
  EXPECT_NE(message.find("rank 0: no progress for 1.0 s while waiting on "
                         "rank 1"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("all-to-all 'dispatch'"), std::string::npos)
      << message;
}

TEST(CudaFake, AllToAllWithAMissingPeerNamesItNccl) { missingPeer(2); }
TEST(CudaFake, AllToAllWithAMissingPeerNamesItLocal) { missingPeer(1); }

TEST(CudaFake, TraceHasBothRanksAndTheOverlapLine) {
  FakeMachine machine(1);
  std::string path = ::testing::TempDir() + "pw-fake-cuda-trace.json";
  std::remove(path.c_str());
  pwrt_context_options options = cudaOptions();
  options.trace_path = path.c_str();
  options.flags = 0; // the overlap line is printed unless quiet
  std::vector<pwrt_context *> contexts = contextsOf(2, options);
  ASSERT_EQ(contexts.size(), 2u);
  ::testing::internal::CaptureStderr();
  onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    rank.setUp(ctx, 3);
    for (int step = 0; step < 2; ++step) {
      ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
      ASSERT_EQ(rank.launch(rank.fill, r, step, 0), PWRT_OK);
      ASSERT_EQ(rank.computeThenComm(), PWRT_OK);
      pwrt_transfer send = rank.transfer(0, 1 - r, 1);
      pwrt_transfer recv = rank.transfer(1, 1 - r, 1);
      ASSERT_EQ(pwrt_p2p_group_begin(ctx, rank.comm), PWRT_OK);
      ASSERT_EQ(pwrt_send(ctx, rank.comm, &send), PWRT_OK);
      ASSERT_EQ(pwrt_recv(ctx, rank.comm, &recv), PWRT_OK);
      ASSERT_EQ(pwrt_p2p_group_end(ctx, rank.comm), PWRT_OK);
      ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
    }
  });
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_search(
      err, std::regex("pwrt: wrote the CUDA trace of 2 ranks to .*"
                      "pw-fake-cuda-trace.json: transfers [0-9.]+ us, "
                      "[0-9.]+% of it hidden under kernels \\(kernels "
                      "[0-9.]+ us\\); local transport: ranks 0 and 1 both "
                      "use GPU")))
      << err;
  std::ifstream file(path);
  ASSERT_TRUE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  std::string json = text.str();
  for (int pid : {0, 1})
    for (const char *category : {"kernel", "transfer", "step"})
      EXPECT_TRUE(
          std::regex_search(json, std::regex("\"pid\":" + std::to_string(pid) +
                                             ",\"tid\":[0-9]+,[^}]*\"cat\":\"" +
                                             category + "\"")))
          << "pid " << pid << " " << category;
}

//===----------------------------------------------------------------------===//
// The compiled MLP schedules through the CUDA backend (CPU kernels)
//===----------------------------------------------------------------------===//

struct MlpRank {
  mlp::Shape shape;
  const mlp::Program *program = nullptr;
  std::vector<mlp::Block> params;
  std::map<int, mlp::Block> gradients;
  double loss = 0;
  int blockOf(int stage) const { return stage % program->blocks; }
  int directionOf(int stage) const { return stage / program->blocks; }
};

MlpRank &mlpOf(const pwrt_kernel_args *args) {
  return *static_cast<MlpRank *>(args->user_data);
}
float *floats(const pwrt_buffer &buffer) {
  return static_cast<float *>(buffer.data);
}

pwrt_status mlpForward(const pwrt_kernel_args *args) {
  MlpRank &s = mlpOf(args);
  std::vector<float> generated;
  const float *x = floats(args->inputs[0]);
  if (!x) {
    generated =
        mlp::input(s.shape, s.directionOf(args->stage), args->microbatch);
    x = generated.data();
  }
  mlp::forward(s.shape, s.params[size_t(s.blockOf(args->stage))], x,
               floats(args->outputs[1]), floats(args->outputs[0]));
  return PWRT_OK;
}
pwrt_status mlpLoss(const pwrt_kernel_args *args) {
  MlpRank &s = mlpOf(args);
  std::vector<float> t =
      mlp::target(s.shape, s.directionOf(args->stage), args->microbatch);
  s.loss += mlp::loss(s.shape, floats(args->inputs[0]), t.data(),
                      floats(args->outputs[0]), s.program->microbatches);
  return PWRT_OK;
}
pwrt_status mlpBackwardInput(const pwrt_kernel_args *args) {
  MlpRank &s = mlpOf(args);
  mlp::backwardInput(s.shape, s.params[size_t(s.blockOf(args->stage))],
                     floats(args->inputs[0]), floats(args->inputs[1]),
                     floats(args->outputs[0]));
  return PWRT_OK;
}
pwrt_status mlpBackwardWeight(const pwrt_kernel_args *args) {
  MlpRank &s = mlpOf(args);
  auto [it, inserted] = s.gradients.try_emplace(args->stage, s.shape);
  if (inserted)
    it->second.zero();
  mlp::backwardWeight(s.shape, s.params[size_t(s.blockOf(args->stage))],
                      floats(args->inputs[0]), floats(args->inputs[1]),
                      it->second);
  return PWRT_OK;
}
pwrt_status mlpBackward(const pwrt_kernel_args *args) {
  pwrt_status status = mlpBackwardWeight(args);
  return status == PWRT_OK ? mlpBackwardInput(args) : status;
}

/// One step of `program` with every rank in this process on `devices`
/// fake GPUs; the worst relative difference to the sequential step. The
/// contexts stay alive (added to `alive`); pwrt_codegen keys its state by
/// pwrt_context_id, so a new context at a destroyed one's address would
/// also be set up afresh.
double runMlp(const mlp::Program &program, int devices,
              std::vector<std::vector<pwrt_context *>> &alive) {
  FakeMachine machine(devices);
  int ranks = program.numRanks();
  pwrt_context_options options = cudaOptions();
  options.expected_world_size = ranks;
  std::vector<pwrt_context *> contexts = contextsOf(ranks, options);
  if (contexts.size() != size_t(ranks))
    return 1e9;
  alive.push_back(contexts);
  std::vector<MlpRank> states(static_cast<size_t>(ranks));
  std::vector<pwrt_status> statuses(static_cast<size_t>(ranks));
  onThreads(
      contexts,
      [&](int r, pwrt_context *ctx) {
        MlpRank &state = states[size_t(r)];
        state.program = &program;
        for (int b = 0; b < program.blocks; ++b)
          state.params.push_back(mlp::initialBlock(state.shape, b));
        struct {
          const char *name;
          pwrt_kernel_fn fn;
        } kernels[] = {{"mlp_fwd", mlpForward},
                       {"mlp_loss", mlpLoss},
                       {"mlp_bwd_in", mlpBackwardInput},
                       {"mlp_bwd_w", mlpBackwardWeight},
                       {"mlp_bwd", mlpBackward}};
        for (const auto &kernel : kernels)
          pwrt_register_kernel(ctx, kernel.name, kernel.fn, &state, nullptr);
        statuses[size_t(r)] = program.step(ctx);
        EXPECT_EQ(statuses[size_t(r)], PWRT_OK) << pwrt_last_error(ctx);
      },
      nullptr, /*destroy=*/false);
  mlp::Shape shape;
  mlp::Reference ref =
      mlp::sequentialStep(shape, program.blocks, program.directions,
                          program.microbatches / program.directions);
  double loss = 0, worst = 0;
  std::map<int, mlp::Block> byStage;
  for (MlpRank &state : states) {
    loss += state.loss;
    for (auto &[stage, gradient] : state.gradients)
      byStage.emplace(stage, gradient);
  }
  for (int b = 0; b < program.blocks; ++b) {
    mlp::Block sum(shape);
    sum.zero();
    for (int d = 0; d < program.directions; ++d) {
      auto found = byStage.find(d * program.blocks + b);
      if (found == byStage.end())
        return 1e9;
      for (auto [to, from] : {std::pair{&sum.w1, &found->second.w1},
                              std::pair{&sum.b1, &found->second.b1},
                              std::pair{&sum.w2, &found->second.w2},
                              std::pair{&sum.b2, &found->second.b2}})
        for (size_t i = 0; i < to->size(); ++i)
          (*to)[i] += (*from)[i];
    }
    worst = std::max(worst, mlp::relativeDifference(sum, ref.grads[size_t(b)]));
  }
  return std::max(worst, std::fabs(loss - ref.loss) / std::fabs(ref.loss));
}

/// Destroys each group of contexts (collective: one thread per rank).
void destroyAll(const std::vector<std::vector<pwrt_context *>> &groups) {
  for (const auto &contexts : groups) {
    std::vector<pwrt_status> destroyed;
    onThreads(
        contexts, [](int, pwrt_context *) {}, &destroyed);
    for (pwrt_status status : destroyed)
      EXPECT_EQ(status, PWRT_OK);
  }
}

// One test: every context of it stays alive to its end (see runMlp), and
// no other test runs pwrt_codegen.
TEST(CudaFake, CompiledMlpSchedules) {
  std::vector<std::vector<pwrt_context *>> alive;
  for (int devices : {1, 8}) // shared: local transport; one each: NCCL
    for (const mlp::Program &program : mlp::kPrograms)
      EXPECT_LE(runMlp(program, devices, alive), 1e-5)
          << program.schedule << " on " << devices << " fake GPU(s)";
  destroyAll(alive);
}

} // namespace
