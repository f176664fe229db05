//===- GpuTest.cpp - The CUDA backend on a GPU ----------------------------===//
//
// `pw-runtime-gpu-tests CASE` runs one case and exits 0 (passed), 1
// (failed) or 77 (skipped: no GPU, or too few GPUs for the case). Cases
// that leave the device busy (a stuck kernel) end the process themselves.
// Plain C++ without a test framework, so that it builds wherever CUDA does
// (tools/gpu-check builds it on a bare GPU machine).
//
//===----------------------------------------------------------------------===//

#include "TestKernels.h"

#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kSkip = 77;

#define CHECK(condition)                                                       \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #condition);                                                \
      return 1;                                                                \
    }                                                                          \
  } while (false)

#define CHECK_OK(ctx, call)                                                    \
  do {                                                                         \
    pwrt_status checkStatus_ = (call);                                         \
    if (checkStatus_ != PWRT_OK) {                                             \
      std::fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__,  \
                   #call, pwrt_status_string(checkStatus_),                    \
                   pwrt_last_error(ctx));                                      \
      return 1;                                                                \
    }                                                                          \
  } while (false)

#define CHECK_EQ_TEXT(actual, expected)                                        \
  do {                                                                         \
    std::string actualText_ = (actual), expectedText_ = (expected);            \
    if (actualText_ != expectedText_) {                                        \
      std::fprintf(stderr, "%s:%d: got\n  %s\nexpected\n  %s\n", __FILE__,     \
                   __LINE__, actualText_.c_str(), expectedText_.c_str());      \
      return 1;                                                                \
    }                                                                          \
  } while (false)

int deviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

//===----------------------------------------------------------------------===//
// Kernels (host functions that enqueue device work on native_stream)
//===----------------------------------------------------------------------===//

cudaStream_t streamOf(const pwrt_kernel_args *args) {
  return static_cast<cudaStream_t>(args->native_stream);
}

/// The value `fill` writes: it names the launch.
float valueOf(int stage, int microbatch) {
  return float(stage * 1000 + microbatch);
}

/// Fills outputs[0] with valueOf(stage, mb), after spinning the
/// nanoseconds that user_data points to (if any).
pwrt_status fillKernel(const pwrt_kernel_args *args) {
  int64_t spinNs =
      args->user_data ? *static_cast<int64_t *>(args->user_data) : 0;
  const pwrt_buffer &out = args->outputs[0];
  cudaError_t rc = pwrt::gputest::fill(
      static_cast<float *>(out.data), out.bytes / sizeof(float),
      valueOf(args->stage, args->microbatch), spinNs, streamOf(args));
  return rc == cudaSuccess ? PWRT_OK : PWRT_ERROR_KERNEL_FAILED;
}

/// Copies inputs[0] to outputs[0].
pwrt_status copyKernel(const pwrt_kernel_args *args) {
  cudaError_t rc = cudaMemcpyAsync(args->outputs[0].data, args->inputs[0].data,
                                   args->inputs[0].bytes,
                                   cudaMemcpyDeviceToDevice, streamOf(args));
  return rc == cudaSuccess ? PWRT_OK : PWRT_ERROR_KERNEL_FAILED;
}

/// Fails at stage 1, micro-batch 2; fills otherwise.
pwrt_status maybeFailKernel(const pwrt_kernel_args *args) {
  if (args->stage == 1 && args->microbatch == 2) {
    pwrt_kernel_set_error(args, "injected failure");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  return fillKernel(args);
}

/// Spins on the device for the nanoseconds user_data points to.
pwrt_status spinKernel(const pwrt_kernel_args *args) {
  return pwrt::gputest::spin(*static_cast<int64_t *>(args->user_data),
                             streamOf(args)) == cudaSuccess
             ? PWRT_OK
             : PWRT_ERROR_KERNEL_FAILED;
}

cudaStream_t lastNativeStream = nullptr;
pwrt_status recordStreamKernel(const pwrt_kernel_args *args) {
  lastNativeStream = streamOf(args);
  return fillKernel(args);
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

pwrt_context_options cudaOptions(double timeoutSeconds = 0) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.timeout_seconds = timeoutSeconds;
  options.trace_path = "";
  return options;
}

/// One rank's standard set-up: kernels, a pool of `slots` slots of
/// `slotBytes`, streams compute and comm, `events` events.
struct Rank {
  pwrt_context *ctx = nullptr;
  pwrt_stream compute = -1, comm = -1;
  std::vector<pwrt_event> events;
  std::vector<void *> slots;
  size_t slotBytes = 0;
  std::map<std::string, pwrt_kernel> kernels;

  pwrt_status setUp(pwrt_context *context, int numSlots, size_t bytes,
                    int numEvents, void *spinUserData = nullptr) {
    ctx = context;
    slotBytes = bytes;
    struct {
      const char *name;
      pwrt_kernel_fn fn;
      void *userData;
    } table[] = {{"fill", fillKernel, spinUserData},
                 {"copy", copyKernel, nullptr},
                 {"maybe_fail", maybeFailKernel, nullptr},
                 {"spin", spinKernel, spinUserData},
                 {"record_stream", recordStreamKernel, nullptr}};
    pwrt_status status;
    for (const auto &entry : table) {
      pwrt_kernel id;
      if ((status = pwrt_register_kernel(ctx, entry.name, entry.fn,
                                         entry.userData, &id)) != PWRT_OK)
        return status;
      kernels[entry.name] = id;
    }
    if ((status = pwrt_pool_create(ctx, bytes * size_t(numSlots), 0)) !=
        PWRT_OK)
      return status;
    for (int s = 0; s < numSlots; ++s) {
      void *slot = nullptr;
      if ((status = pwrt_buffer_at(ctx, bytes * size_t(s), bytes, &slot)) !=
          PWRT_OK)
        return status;
      slots.push_back(slot);
    }
    if ((status = pwrt_stream_create(ctx, "compute", &compute)) != PWRT_OK ||
        (status = pwrt_stream_create(ctx, "comm", &comm)) != PWRT_OK)
      return status;
    events.resize(size_t(numEvents));
    for (pwrt_event &event : events)
      if ((status = pwrt_event_create(ctx, &event)) != PWRT_OK)
        return status;
    return PWRT_OK;
  }

  pwrt_buffer slot(int index) const {
    return pwrt_buffer{slots[size_t(index)], slotBytes};
  }

  /// Launches `kernel` writing slot `out` (reading slot `in`, if >= 0).
  pwrt_status launch(pwrt_stream stream, const char *kernel, int stage,
                     int microbatch, int out, int in = -1) {
    pwrt_buffer input = in >= 0 ? slot(in) : pwrt_buffer{nullptr, 0};
    pwrt_buffer output = out >= 0 ? slot(out) : pwrt_buffer{nullptr, 0};
    pwrt_kernel_args args = {};
    args.kind = PWRT_ACTION_FORWARD;
    args.stage = stage;
    args.microbatch = microbatch;
    args.stage2 = args.microbatch2 = -1;
    args.layer = -1;
    args.inputs = &input;
    args.num_inputs = in >= 0 ? 1 : 0;
    args.outputs = &output;
    args.num_outputs = out >= 0 ? 1 : 0;
    return pwrt_launch(ctx, stream, kernels.at(kernel), &args);
  }

  pwrt_transfer transfer(int slotIndex, int peer, int tag, int stage = 0,
                         int microbatch = 0) const {
    return pwrt_transfer{slots[size_t(slotIndex)], slotBytes, peer,      tag,
                         PWRT_PAYLOAD_ACTIVATION,  stage,     microbatch};
  }

  /// Makes `to` wait for everything enqueued on `from` so far.
  pwrt_status order(pwrt_stream from, pwrt_stream to, int event) {
    pwrt_status status = pwrt_event_record(ctx, from, events[size_t(event)]);
    return status == PWRT_OK
               ? pwrt_stream_wait_event(ctx, to, events[size_t(event)])
               : status;
  }

  /// Slot `index` on the host (the step has ended: streams are idle).
  std::vector<float> read(int index) const {
    std::vector<float> host(slotBytes / sizeof(float));
    cudaSetDevice(pwrt_cuda_device(ctx));
    if (cudaMemcpy(host.data(), slots[size_t(index)], slotBytes,
                   cudaMemcpyDeviceToHost) != cudaSuccess)
      host.assign(host.size(), -1.0f);
    return host;
  }
  bool holds(int index, float value) const {
    for (float x : read(index))
      if (x != value)
        return false;
    return true;
  }
};

/// Runs `body(rank, ctx)` on one thread per context and returns the
/// number of failed ranks (each prints why).
int onThreads(const std::vector<pwrt_context *> &contexts,
              const std::function<int(int, pwrt_context *)> &body) {
  std::vector<int> failures(contexts.size(), 0);
  std::vector<std::thread> threads;
  for (size_t r = 0; r < contexts.size(); ++r)
    threads.emplace_back([&, r] { failures[r] = body(int(r), contexts[r]); });
  for (std::thread &thread : threads)
    thread.join();
  int failed = 0;
  for (size_t r = 0; r < failures.size(); ++r)
    if (failures[r]) {
      std::fprintf(stderr, "rank %zu failed\n", r);
      ++failed;
    }
  return failed;
}

std::vector<pwrt_context *> localContexts(int count,
                                          const std::vector<int32_t> &devices,
                                          pwrt_context_options options) {
  std::vector<pwrt_context *> contexts(size_t(count), nullptr);
  if (pwrt_cuda_contexts_create(&options, count,
                                devices.empty() ? nullptr : devices.data(),
                                contexts.data()) != PWRT_OK) {
    std::fprintf(stderr, "pwrt_cuda_contexts_create: %s\n",
                 pwrt_last_error(nullptr));
    contexts.clear();
  }
  return contexts;
}

//===----------------------------------------------------------------------===//
// Cases
//===----------------------------------------------------------------------===//

/// The pool is zero-filled device memory of the context's device; kernels
/// get the stream as native_stream.
int devicePool() {
  pwrt_context_options options = cudaOptions();
  pwrt_context *ctx = nullptr;
  CHECK_OK(nullptr, pwrt_context_create(&options, &ctx));
  Rank rank;
  CHECK_OK(ctx, rank.setUp(ctx, 4, 4096, 1));
  cudaPointerAttributes attributes;
  CHECK(cudaPointerGetAttributes(&attributes, rank.slots[1]) == cudaSuccess);
  CHECK(attributes.type == cudaMemoryTypeDevice);
  CHECK(attributes.device == pwrt_cuda_device(ctx));
  CHECK(rank.holds(0, 0.0f) && rank.holds(3, 0.0f));
  CHECK_OK(ctx, pwrt_step_begin(ctx));
  CHECK_OK(ctx, rank.launch(rank.compute, "record_stream", 3, 4, 2));
  CHECK_OK(ctx, pwrt_step_end(ctx));
  CHECK(rank.holds(2, valueOf(3, 4)));
  CHECK(rank.holds(1, 0.0f) && rank.holds(3, 0.0f));
  CHECK(lastNativeStream != nullptr);
  CHECK(cudaStreamQuery(lastNativeStream) == cudaSuccess);
  unsigned flags = 0;
  CHECK(cudaStreamGetFlags(lastNativeStream, &flags) == cudaSuccess);
  CHECK(flags == cudaStreamNonBlocking);
  CHECK_OK(ctx, pwrt_context_destroy(ctx));
  return 0;
}

/// An event orders a slow kernel on one stream before a copy on another.
int streamOrder() {
  pwrt_context_options options = cudaOptions();
  pwrt_context *ctx = nullptr;
  CHECK_OK(nullptr, pwrt_context_create(&options, &ctx));
  int64_t spinNs = 2'000'000;
  Rank rank;
  CHECK_OK(ctx, rank.setUp(ctx, 2, 1 << 16, 1, &spinNs));
  for (int step = 0; step < 5; ++step) {
    CHECK_OK(ctx, pwrt_step_begin(ctx));
    CHECK_OK(ctx, rank.launch(rank.compute, "fill", 1, step, 0));
    CHECK_OK(ctx, rank.order(rank.compute, rank.comm, 0));
    CHECK_OK(ctx, rank.launch(rank.comm, "copy", 2, step, 1, 0));
    CHECK_OK(ctx, pwrt_step_end(ctx));
    CHECK(rank.holds(1, valueOf(1, step)));
  }
  CHECK_OK(ctx, pwrt_context_destroy(ctx));
  return 0;
}

/// One rank sends to itself in a group (NCCL, then the local transport).
int selfTransfer() {
  for (const char *transport : {"nccl", "local"}) {
    ::setenv("PW_CUDA_TRANSPORT", transport, 1);
    pwrt_context_options options = cudaOptions();
    pwrt_context *ctx = nullptr;
    CHECK_OK(nullptr, pwrt_context_create(&options, &ctx));
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 3, 1 << 12, 2));
    for (int step = 0; step < 3; ++step) {
      CHECK_OK(ctx, pwrt_step_begin(ctx));
      CHECK_OK(ctx, rank.launch(rank.compute, "fill", 7, step, 0));
      CHECK_OK(ctx, rank.order(rank.compute, rank.comm, 0));
      CHECK_OK(ctx, pwrt_p2p_group_begin(ctx, rank.comm));
      pwrt_transfer send = rank.transfer(0, 0, 5),
                    recv = rank.transfer(1, 0, 5);
      CHECK_OK(ctx, pwrt_send(ctx, rank.comm, &send));
      CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &recv));
      CHECK_OK(ctx, pwrt_p2p_group_end(ctx, rank.comm));
      CHECK_OK(ctx, rank.order(rank.comm, rank.compute, 1));
      CHECK_OK(ctx, rank.launch(rank.compute, "copy", 8, step, 2, 1));
      CHECK_OK(ctx, pwrt_step_end(ctx));
      CHECK(rank.holds(1, valueOf(7, step)));
      CHECK(rank.holds(2, valueOf(7, step)));
    }
    CHECK_OK(ctx, pwrt_context_destroy(ctx));
    std::printf("self transfer over %s: ok\n", transport);
  }
  ::unsetenv("PW_CUDA_TRANSPORT");
  return 0;
}

/// Every rank sends to the next in a ring and swaps with a partner in the
/// same group; run on `devices` (all 0: the local transport).
int exchange(const std::vector<int32_t> &devices) {
  int n = int(devices.size());
  std::vector<pwrt_context *> contexts =
      localContexts(n, devices, cudaOptions(30));
  CHECK(!contexts.empty());
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 4, 1 << 14, 2));
    int next = (r + 1) % n, previous = (r + n - 1) % n, partner = r ^ 1;
    for (int step = 0; step < 3; ++step) {
      CHECK_OK(ctx, pwrt_step_begin(ctx));
      CHECK_OK(ctx, rank.launch(rank.compute, "fill", r, step, 0));
      CHECK_OK(ctx, rank.order(rank.compute, rank.comm, 0));
      CHECK_OK(ctx, pwrt_p2p_group_begin(ctx, rank.comm));
      pwrt_transfer toNext = rank.transfer(0, next, 1),
                    fromPrevious = rank.transfer(1, previous, 1);
      CHECK_OK(ctx, pwrt_send(ctx, rank.comm, &toNext));
      CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &fromPrevious));
      if (partner < n) {
        pwrt_transfer toPartner = rank.transfer(0, partner, 2),
                      fromPartner = rank.transfer(2, partner, 2);
        CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &fromPartner));
        CHECK_OK(ctx, pwrt_send(ctx, rank.comm, &toPartner));
      }
      CHECK_OK(ctx, pwrt_p2p_group_end(ctx, rank.comm));
      CHECK_OK(ctx, pwrt_step_end(ctx));
      CHECK(rank.holds(1, valueOf(previous, step)));
      if (partner < n)
        CHECK(rank.holds(2, valueOf(partner, step)));
    }
    CHECK_OK(ctx, pwrt_context_destroy(ctx));
    return 0;
  });
  CHECK(failed == 0);
  return 0;
}

int localRing() { return exchange({0, 0, 0, 0}); }

int ncclRing() {
  int count = deviceCount();
  if (count < 2) {
    std::printf("skipped: needs 2 GPUs, this machine has %d\n", count);
    return kSkip;
  }
  std::vector<int32_t> devices;
  for (int d = 0; d < count && d < 8; ++d)
    devices.push_back(d);
  return exchange(devices);
}

/// A kernel fails on rank 1: every rank's step fails with the same
/// message; the next step works.
int kernelFailure() {
  std::vector<pwrt_context *> contexts = localContexts(3, {}, cudaOptions(30));
  CHECK(!contexts.empty());
  std::vector<std::string> messages(3);
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 2, 1 << 12, 1));
    for (int step = 0; step < 2; ++step) {
      CHECK_OK(ctx, pwrt_step_begin(ctx));
      CHECK_OK(ctx, rank.launch(rank.compute, "maybe_fail", r, 2 + step, 0));
      CHECK_OK(ctx, rank.order(rank.compute, rank.comm, 0));
      // Transfers run even after the failure: nobody waits forever.
      pwrt_transfer send = rank.transfer(0, (r + 1) % 3, 4),
                    recv = rank.transfer(1, (r + 2) % 3, 4);
      CHECK_OK(ctx, pwrt_p2p_group_begin(ctx, rank.comm));
      CHECK_OK(ctx, pwrt_send(ctx, rank.comm, &send));
      CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &recv));
      CHECK_OK(ctx, pwrt_p2p_group_end(ctx, rank.comm));
      pwrt_status status = pwrt_step_end(ctx);
      if (step == 0) {
        CHECK(status == PWRT_ERROR_KERNEL_FAILED);
        messages[size_t(r)] = pwrt_last_error(ctx);
      } else {
        CHECK(status == PWRT_OK);
      }
    }
    CHECK_OK(ctx, pwrt_context_destroy(ctx));
    return 0;
  });
  CHECK(failed == 0);
  for (const std::string &message : messages)
    CHECK_EQ_TEXT(message, "step 0 failed: rank 1: kernel 'maybe_fail' failed "
                           "at stage 1, micro-batch 2 (forward) on stream "
                           "'compute': kernel failed: injected failure");
  return 0;
}

/// Rank 0 waits for a message rank 1 never sends: both fail after the
/// timeout, naming rank 1, and nothing hangs. Both ranks on device 0 (the
/// local transport), so that rank 0 waits in pwrt_recv.
int peerLost() {
  std::vector<pwrt_context *> contexts =
      localContexts(2, {0, 0}, cudaOptions(1.0));
  CHECK(!contexts.empty());
  std::vector<std::string> messages(2);
  std::vector<pwrt_status> destroyed(2);
  auto start = std::chrono::steady_clock::now();
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 1, 1024, 1));
    CHECK_OK(ctx, pwrt_step_begin(ctx));
    if (r == 0) {
      pwrt_transfer recv = rank.transfer(0, 1, 9);
      CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &recv));
    } else {
      // Rank 0's wait must time out first: it is the one that knows what
      // it waits for.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    CHECK(pwrt_step_end(ctx) == PWRT_ERROR_PEER_LOST);
    messages[size_t(r)] = pwrt_last_error(ctx);
    destroyed[size_t(r)] = pwrt_context_destroy(ctx);
    return 0;
  });
  CHECK(failed == 0);
  CHECK(secondsSince(start) < 10);
  for (const std::string &message : messages)
    CHECK_EQ_TEXT(message, "step 0 failed: rank 0: no progress for 1.0 s "
                           "while waiting on rank 1, presumed lost: recv "
                           "activation stage 0 mb 0 from rank 1 (1024 bytes, "
                           "tag 9) on stream 'comm'");
  CHECK(destroyed[0] == PWRT_ERROR_PEER_LOST);
  CHECK(destroyed[1] == PWRT_ERROR_PEER_LOST);
  return 0;
}

/// A kernel that outruns the timeout fails the step with TIMEOUT; the
/// process then ends at once (the kernel cannot be stopped).
int stuckKernel() {
  // No NCCL communicator: aborting one could wait for the spinning kernel.
  ::setenv("PW_CUDA_TRANSPORT", "local", 1);
  pwrt_context_options options = cudaOptions(1.0);
  pwrt_context *ctx = nullptr;
  CHECK_OK(nullptr, pwrt_context_create(&options, &ctx));
  int64_t spinNs = 20'000'000'000; // 20 s, more than the test waits
  Rank rank;
  CHECK_OK(ctx, rank.setUp(ctx, 1, 1024, 1, &spinNs));
  auto start = std::chrono::steady_clock::now();
  CHECK_OK(ctx, pwrt_step_begin(ctx));
  CHECK_OK(ctx, rank.launch(rank.compute, "spin", 0, 0, -1));
  CHECK(pwrt_step_end(ctx) == PWRT_ERROR_TIMEOUT);
  CHECK(secondsSince(start) < 8);
  CHECK_EQ_TEXT(pwrt_last_error(ctx),
                "step 0 failed: rank 0: kernel 'spin' at stage 0, micro-batch "
                "0 (forward) on stream 'compute' is still running after 1.0 s");
  CHECK(pwrt_context_destroy(ctx) == PWRT_ERROR_TIMEOUT);
  CHECK(secondsSince(start) < 12);
  std::printf("stuck kernel: ok\n");
  std::fflush(stdout);
  std::_Exit(0); // the device is still busy; leave without waiting
}

/// NCCL waits for a receive that no send matches: the watchdog (or NCCL)
/// ends the step, the communicator is aborted, nothing hangs.
int ncclUnmatched() {
  ::setenv("PW_CUDA_TRANSPORT", "nccl", 1);
  pwrt_context_options options = cudaOptions(2.0);
  pwrt_context *ctx = nullptr;
  CHECK_OK(nullptr, pwrt_context_create(&options, &ctx));
  Rank rank;
  CHECK_OK(ctx, rank.setUp(ctx, 1, 1024, 1));
  auto start = std::chrono::steady_clock::now();
  CHECK_OK(ctx, pwrt_step_begin(ctx));
  pwrt_transfer recv = rank.transfer(0, 0, 3);
  CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &recv));
  pwrt_status status = pwrt_step_end(ctx);
  std::printf("unmatched receive: %s: %s\n", pwrt_status_string(status),
              pwrt_last_error(ctx));
  CHECK(status == PWRT_ERROR_PEER_LOST || status == PWRT_ERROR_DEVICE);
  CHECK(secondsSince(start) < 15);
  CHECK(pwrt_context_destroy(ctx) != PWRT_OK);
  CHECK(secondsSince(start) < 20);
  std::fflush(stdout);
  std::_Exit(0);
}

/// Rank 0 sends two messages that rank 1 receives in the other order:
/// NCCL pairs them by order, so the step must fail and say so.
int orderMismatch() {
  int count = deviceCount();
  if (count < 2) {
    std::printf("skipped: needs 2 GPUs, this machine has %d\n", count);
    return kSkip;
  }
  std::vector<pwrt_context *> contexts =
      localContexts(2, {0, 1}, cudaOptions(10));
  CHECK(!contexts.empty());
  std::vector<std::string> messages(2);
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 2, 1024, 1));
    CHECK_OK(ctx, pwrt_step_begin(ctx));
    for (int tag : {1, 2}) {
      pwrt_transfer t = rank.transfer(tag - 1, 1 - r, r == 0 ? tag : 3 - tag);
      CHECK_OK(ctx, r == 0 ? pwrt_send(ctx, rank.comm, &t)
                           : pwrt_recv(ctx, rank.comm, &t));
    }
    CHECK(pwrt_step_end(ctx) == PWRT_ERROR_DEVICE);
    messages[size_t(r)] = pwrt_last_error(ctx);
    pwrt_context_destroy(ctx);
    return 0;
  });
  CHECK(failed == 0);
  for (const std::string &message : messages)
    CHECK_EQ_TEXT(message,
                  "step 0 failed: the messages from rank 0 to rank 1 do not "
                  "pair up: rank 0 sent 2 and rank 1 received 2, in another "
                  "order or of other sizes; NCCL pairs messages by their "
                  "order, so both ends must issue the same sizes in the same "
                  "order");
  return 0;
}

/// PW_TRACE: one file with kernel and transfer slices of both ranks, from
/// CUDA event timestamps.
int trace() {
  std::string path = "pw-gpu-trace.json";
  if (const char *dir = std::getenv("PW_TEST_OUTPUT_DIR"))
    path = std::string(dir) + "/" + path;
  std::remove(path.c_str());
  pwrt_context_options options = cudaOptions(30);
  options.trace_path = path.c_str();
  std::vector<pwrt_context *> contexts = localContexts(2, {0, 0}, options);
  CHECK(!contexts.empty());
  int64_t spinNs = 200'000;
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    Rank rank;
    CHECK_OK(ctx, rank.setUp(ctx, 3, 1 << 14, 2, &spinNs));
    for (int step = 0; step < 2; ++step) {
      CHECK_OK(ctx, pwrt_step_begin(ctx));
      CHECK_OK(ctx, rank.launch(rank.compute, "fill", r, step, 0));
      CHECK_OK(ctx, rank.order(rank.compute, rank.comm, 0));
      pwrt_transfer send = rank.transfer(0, 1 - r, 1),
                    recv = rank.transfer(1, 1 - r, 1);
      CHECK_OK(ctx, pwrt_p2p_group_begin(ctx, rank.comm));
      CHECK_OK(ctx, pwrt_send(ctx, rank.comm, &send));
      CHECK_OK(ctx, pwrt_recv(ctx, rank.comm, &recv));
      CHECK_OK(ctx, pwrt_p2p_group_end(ctx, rank.comm));
      // Compute that overlaps the transfer.
      CHECK_OK(ctx, rank.launch(rank.compute, "fill", r, 10 + step, 2));
      CHECK_OK(ctx, pwrt_step_end(ctx));
    }
    CHECK_OK(ctx, pwrt_context_destroy(ctx));
    return 0;
  });
  CHECK(failed == 0);
  std::ifstream file(path);
  CHECK(file.good());
  std::stringstream text;
  text << file.rdbuf();
  std::string json = text.str();
  for (int pid : {0, 1}) {
    std::string prefix = "\"pid\":" + std::to_string(pid) + ",\"tid\":";
    bool kernel = false, transfer = false;
    for (size_t at = json.find(prefix); at != std::string::npos;
         at = json.find(prefix, at + 1)) {
      size_t end = json.find('}', at);
      std::string event = json.substr(at, end - at);
      kernel |= event.find("\"cat\":\"kernel\"") != std::string::npos;
      transfer |= event.find("\"cat\":\"transfer\"") != std::string::npos;
    }
    CHECK(kernel && transfer);
  }
  std::printf("trace written to %s (%zu bytes)\n", path.c_str(), json.size());
  return 0;
}

struct Case {
  const char *name;
  int (*run)();
};

/// Rows from group rank `from` to `to` in `step` (uneven, some zero), and
/// each row's 8-byte value: the test's own plan, not the backend's.
int64_t a2aRows(int from, int to, int step) {
  return (from + 2 * to + step) % 3;
}
int64_t a2aValue(int from, int to, int index, int step) {
  return 1000000 * step + 10000 * from + 100 * to + index;
}

/// The send buffer a rank's "route" kernel writes: header, then rows.
struct RoutePlan {
  std::vector<int64_t> host;
};

/// Copies the planned send buffer to the device on the kernel's stream, so
/// the all-to-all enqueued after it reads the header it wrote.
pwrt_status routeKernel(const pwrt_kernel_args *args) {
  auto &plan = *static_cast<RoutePlan *>(args->user_data);
  cudaError_t rc = cudaMemcpyAsync(args->outputs[0].data, plan.host.data(),
                                   plan.host.size() * 8, cudaMemcpyHostToDevice,
                                   streamOf(args));
  return rc == cudaSuccess ? PWRT_OK : PWRT_ERROR_KERNEL_FAILED;
}

/// `n` ranks on `devices` in groups of `groupSize`: three steps of uneven
/// all-to-alls (rows checked on the host), then one where rank 1's
/// receive buffer is too small: every rank fails with
/// PWRT_ERROR_CAPACITY_EXCEEDED, and a last step works again.
int allToAllOn(const std::vector<int32_t> &devices, int groupSize) {
  int n = int(devices.size());
  std::vector<pwrt_context *> contexts =
      localContexts(n, devices, cudaOptions(30));
  CHECK(!contexts.empty());
  int failed = onThreads(contexts, [&](int r, pwrt_context *ctx) {
    std::vector<int32_t> members;
    for (int m = r / groupSize * groupSize; m < (r / groupSize + 1) * groupSize;
         ++m)
      members.push_back(m);
    pwrt_group group = -1;
    CHECK_OK(ctx,
             pwrt_group_create(ctx, members.data(), members.size(), &group));
    int me = pwrt_group_rank(ctx, group), size = pwrt_group_size(ctx, group);
    CHECK(me == r % groupSize && size == groupSize);
    RoutePlan plan;
    pwrt_kernel route = -1;
    CHECK_OK(ctx,
             pwrt_register_kernel(ctx, "route", routeKernel, &plan, &route));
    size_t header = size_t(size) * 8, rows = 2 * size_t(size);
    size_t bytes = header + rows * 8, slot = (bytes + 255) / 256 * 256;
    CHECK_OK(ctx, pwrt_pool_create(ctx, 2 * slot, 0));
    void *send = nullptr, *recv = nullptr;
    CHECK_OK(ctx, pwrt_buffer_at(ctx, 0, bytes, &send));
    CHECK_OK(ctx, pwrt_buffer_at(ctx, slot, bytes, &recv));
    pwrt_stream comm = -1;
    CHECK_OK(ctx, pwrt_stream_create(ctx, "comm", &comm));
    for (int step = 0; step < 5; ++step) {
      bool overflow = step == 3;
      plan.host.assign(size_t(size), 0);
      for (int to = 0; to < size; ++to) {
        plan.host[size_t(to)] = a2aRows(me, to, step);
        for (int i = 0; i < a2aRows(me, to, step); ++i)
          plan.host.push_back(a2aValue(me, to, i, step));
      }
      CHECK_OK(ctx, pwrt_step_begin(ctx));
      pwrt_buffer output = {send, bytes};
      pwrt_kernel_args launch = {};
      launch.kind = PWRT_ACTION_FORWARD;
      launch.stage2 = launch.microbatch2 = -1;
      launch.layer = -1;
      launch.outputs = &output;
      launch.num_outputs = 1;
      CHECK_OK(ctx, pwrt_launch(ctx, comm, route, &launch));
      pwrt_all_to_all_args args = {};
      args.send = send;
      args.send_bytes = bytes;
      args.recv = recv;
      // In step 3 group rank 1 receives (from + 5) % 3 rows from each
      // member: 2 + 0 (+ 1 + 2), more than the 1 row it has room for.
      args.recv_bytes = overflow && me == 1 ? header + 8 : bytes;
      args.row_bytes = 8;
      args.name = "dispatch";
      args.kind = PWRT_ACTION_FORWARD;
      args.stage = 0;
      args.microbatch = step;
      args.layer = -1;
      CHECK_OK(ctx, pwrt_all_to_all(ctx, comm, group, &args));
      pwrt_status status = pwrt_step_end(ctx);
      if (overflow && size > 1) {
        CHECK(status == PWRT_ERROR_CAPACITY_EXCEEDED);
        CHECK(std::strstr(pwrt_last_error(ctx), "all-to-all 'dispatch'"));
        continue;
      }
      CHECK_OK(ctx, status);
      std::vector<int64_t> got(bytes / 8);
      cudaSetDevice(pwrt_cuda_device(ctx));
      CHECK(cudaMemcpy(got.data(), recv, bytes, cudaMemcpyDeviceToHost) ==
            cudaSuccess);
      size_t at = size_t(size);
      for (int from = 0; from < size; ++from) {
        CHECK(got[size_t(from)] == a2aRows(from, me, step));
        for (int i = 0; i < a2aRows(from, me, step); ++i)
          CHECK(got[at++] == a2aValue(from, me, i, step));
      }
    }
    CHECK_OK(ctx, pwrt_context_destroy(ctx));
    return 0;
  });
  CHECK(failed == 0);
  return 0;
}

/// On one shared GPU (local transport), then over NCCL if there are GPUs
/// enough for one rank each (up to 4).
int allToAll() {
  CHECK(allToAllOn({0, 0, 0, 0}, 4) == 0);
  CHECK(allToAllOn({0, 0, 0, 0}, 2) == 0);
  std::printf("all-to-all on one shared GPU: ok\n");
  int count = deviceCount();
  if (count < 2) {
    std::printf("all-to-all over NCCL skipped: needs 2 GPUs, this machine "
                "has %d\n",
                count);
    return 0;
  }
  std::vector<int32_t> devices;
  for (int d = 0; d < count && d < 4; ++d)
    devices.push_back(d);
  CHECK(allToAllOn(devices, int(devices.size())) == 0);
  std::printf("all-to-all over NCCL on %zu GPUs: ok\n", devices.size());
  return 0;
}

const Case kCases[] = {
    {"device-pool", devicePool},
    {"stream-order", streamOrder},
    {"self-transfer", selfTransfer},
    {"local-ring", localRing},
    {"nccl-ring", ncclRing},
    {"kernel-failure", kernelFailure},
    {"peer-lost", peerLost},
    {"stuck-kernel", stuckKernel},
    {"nccl-unmatched", ncclUnmatched},
    {"order-mismatch", orderMismatch},
    {"trace", trace},
    {"all-to-all", allToAll},
};

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASE\ncases:", argv[0]);
    for (const Case &c : kCases)
      std::fprintf(stderr, " %s", c.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  const Case *found = nullptr;
  for (const Case &c : kCases)
    if (!std::strcmp(c.name, argv[1]))
      found = &c;
  if (!found) {
    std::fprintf(stderr, "unknown case '%s'\n", argv[1]);
    return 2;
  }
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    std::printf("skipped: no GPU (%s)\n", rc != cudaSuccess
                                              ? cudaGetErrorString(rc)
                                              : "cudaGetDeviceCount says 0");
    return kSkip;
  }
  int result = found->run();
  std::printf("%s: %s\n", found->name,
              result == 0       ? "passed"
              : result == kSkip ? "skipped"
                                : "FAILED");
  return result;
}
