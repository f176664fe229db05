//===- RuntimeTest.cpp - Single-process tests of the runtime ABI ----------===//
//
// One rank (MPI singleton): statuses, options, the kernel registry, the
// pool, stream order, events between streams, kernel failures and the
// kernel watchdog, the trace. Multi-rank behaviour is in MpiTest.cpp and
// the scenarios run by mpirun.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" pwrt_status pwrtCSmokeTest(void);

namespace {

using Clock = std::chrono::steady_clock;

pwrt_context *createContext(double timeoutSeconds = 30,
                            const char *tracePath = "") {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.timeout_seconds = timeoutSeconds;
  options.trace_path = tracePath;
  options.flags = PWRT_FLAG_QUIET;
  pwrt_context *ctx = nullptr;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK)
      << pwrt_last_error(nullptr);
  return ctx;
}

pwrt_kernel_args argsFor(pwrt_action_kind kind, int stage, int microbatch) {
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.kind = kind;
  args.stage = stage;
  args.microbatch = microbatch;
  args.stage2 = args.microbatch2 = -1;
  args.layer = -1; // not a component launch
  return args;
}

pwrt_status emptyKernel(const pwrt_kernel_args *) { return PWRT_OK; }

/// Appends the micro-batch of every call to the vector in user_data.
pwrt_status recordOrder(const pwrt_kernel_args *args) {
  static_cast<std::vector<int> *>(args->user_data)->push_back(args->microbatch);
  return PWRT_OK;
}

pwrt_status sleepMicrobatchMs(const pwrt_kernel_args *args) {
  std::this_thread::sleep_for(std::chrono::milliseconds(args->microbatch));
  return PWRT_OK;
}

class Runtime : public ::testing::Test {
protected:
  void SetUp() override { ctx = createContext(); }
  void TearDown() override {
    if (ctx)
      EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK) << pwrt_last_error(nullptr);
  }
  pwrt_stream stream(const char *name) {
    pwrt_stream id = -1;
    EXPECT_EQ(pwrt_stream_create(ctx, name, &id), PWRT_OK)
        << pwrt_last_error(ctx);
    return id;
  }
  pwrt_kernel kernel(const char *name, pwrt_kernel_fn fn,
                     void *user = nullptr) {
    pwrt_kernel id = -1;
    EXPECT_EQ(pwrt_register_kernel(ctx, name, fn, user, &id), PWRT_OK)
        << pwrt_last_error(ctx);
    return id;
  }
  pwrt_event event() {
    pwrt_event id = -1;
    EXPECT_EQ(pwrt_event_create(ctx, &id), PWRT_OK) << pwrt_last_error(ctx);
    return id;
  }
  pwrt_context *ctx = nullptr;
};

//===----------------------------------------------------------------------===//
// Statuses, options, context
//===----------------------------------------------------------------------===//

TEST(RuntimeStatus, EveryStatusHasItsOwnPhrase) {
  std::set<std::string> phrases;
  for (int status = PWRT_OK; status <= PWRT_ERROR_CAPACITY_EXCEEDED; ++status) {
    std::string phrase = pwrt_status_string(pwrt_status(status));
    EXPECT_FALSE(phrase.empty());
    EXPECT_NE(phrase, "unknown status") << status;
    phrases.insert(phrase);
  }
  EXPECT_EQ(phrases.size(), size_t(PWRT_ERROR_CAPACITY_EXCEEDED + 1));
  EXPECT_STREQ(pwrt_status_string(PWRT_OK), "ok");
  EXPECT_STREQ(pwrt_status_string(PWRT_ERROR_PEER_LOST), "peer lost");
  EXPECT_STREQ(pwrt_status_string(pwrt_status(999)), "unknown status");
  EXPECT_EQ(pwrt_abi_version(), PWRT_ABI_VERSION);
}

TEST(RuntimeContext, OptionsDefaults) {
  pwrt_context_options options;
  std::memset(&options, 0xff, sizeof(options));
  pwrt_context_options_init(&options);
  EXPECT_EQ(options.struct_size, sizeof(options));
  EXPECT_EQ(options.backend, PWRT_BACKEND_HOST);
  EXPECT_EQ(options.expected_world_size, 0);
  EXPECT_EQ(options.timeout_seconds, 0);
  EXPECT_EQ(options.trace_path, nullptr);
  EXPECT_EQ(options.flags, 0u);
}

TEST(RuntimeContext, OneRankWithoutMpirun) {
  pwrt_context *ctx = createContext();
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(pwrt_rank(ctx), 0);
  EXPECT_EQ(pwrt_world_size(ctx), 1);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
  // Contexts come and go within one process (MPI stays up).
  ctx = createContext();
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
  EXPECT_EQ(pwrt_rank(nullptr), -1);
  EXPECT_EQ(pwrt_context_destroy(nullptr), PWRT_OK);
}

TEST(RuntimeContext, WorldSizeMismatchIsReported) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.expected_world_size = 2;
  options.flags = PWRT_FLAG_QUIET;
  pwrt_context *ctx = reinterpret_cast<pwrt_context *>(&options);
  EXPECT_EQ(pwrt_context_create(&options, &ctx),
            PWRT_ERROR_WORLD_SIZE_MISMATCH);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "the program was compiled for 2 ranks but runs on 1 (this is "
               "rank 0); launch it with mpirun -np 2");
  // The right size works in the same process afterwards.
  options.expected_world_size = 1;
  ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
}

TEST(RuntimeContext, BadOptionsAreRejected) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.flags = PWRT_FLAG_QUIET;
  pwrt_context *ctx = nullptr;
#ifndef PWRT_HAS_CUDA
  // A build with the CUDA backend tests it in CudaNoGpuTest.cpp.
  options.backend = PWRT_BACKEND_CUDA;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(pwrt_last_error(nullptr)).find("CUDA"),
            std::string::npos);
#endif
  options.backend = PWRT_BACKEND_HOST;
  options.struct_size = 0;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_INVALID_ARGUMENT);
  options.struct_size = sizeof(options);
  options.expected_world_size = -1;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_INVALID_ARGUMENT);
  options.expected_world_size = 0;
  ::setenv("PW_TIMEOUT", "soon", 1);
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "PW_TIMEOUT='soon' is not a positive number of seconds");
  ::unsetenv("PW_TIMEOUT");
  EXPECT_EQ(pwrt_context_create(&options, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
}

TEST(RuntimeContext, HeaderWorksFromC) { EXPECT_EQ(pwrtCSmokeTest(), PWRT_OK); }

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

TEST_F(Runtime, KernelRegistry) {
  pwrt_kernel first = kernel("fwd", emptyKernel);
  pwrt_kernel second = kernel("bwd", emptyKernel);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  pwrt_kernel found = -1;
  EXPECT_EQ(pwrt_kernel_lookup(ctx, "bwd", &found), PWRT_OK);
  EXPECT_EQ(found, second);
  EXPECT_EQ(pwrt_kernel_lookup(ctx, "loss", &found), PWRT_ERROR_MISSING_KERNEL);
  EXPECT_STREQ(pwrt_last_error(ctx), "no kernel is registered as 'loss'");
  EXPECT_EQ(pwrt_register_kernel(ctx, "fwd", emptyKernel, nullptr, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx), "kernel 'fwd' is registered already");
  EXPECT_EQ(pwrt_register_kernel(ctx, "", emptyKernel, nullptr, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_register_kernel(ctx, "null", nullptr, nullptr, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
}

TEST_F(Runtime, RequireKernelsListsEveryMissingName) {
  kernel("fwd", emptyKernel);
  kernel("bwd", emptyKernel);
  const char *present[] = {"fwd", "bwd"};
  EXPECT_EQ(pwrt_require_kernels(ctx, present, 2), PWRT_OK);
  const char *needed[] = {"fwd", "loss", "bwd", "optimizer", "loss"};
  EXPECT_EQ(pwrt_require_kernels(ctx, needed, 5), PWRT_ERROR_MISSING_KERNEL);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "kernels not registered (checked before the first step): "
               "rank 0: 'loss', 'optimizer'");
  // Registering them fixes it; nothing about the context broke.
  kernel("loss", emptyKernel);
  kernel("optimizer", emptyKernel);
  EXPECT_EQ(pwrt_require_kernels(ctx, needed, 5), PWRT_OK);
}

TEST_F(Runtime, KernelGetsItsArguments) {
  struct Seen {
    pwrt_kernel_args args;
    std::vector<pwrt_buffer> inputs, outputs, gradients;
    std::string name;
    std::thread::id thread;
  } seen;
  auto capture = [](const pwrt_kernel_args *args) {
    auto *seen = static_cast<Seen *>(args->user_data);
    seen->args = *args;
    seen->inputs.assign(args->inputs, args->inputs + args->num_inputs);
    seen->outputs.assign(args->outputs, args->outputs + args->num_outputs);
    seen->gradients.assign(args->gradients,
                           args->gradients + args->num_gradients);
    seen->name = args->kernel_name;
    seen->thread = std::this_thread::get_id();
    return PWRT_OK;
  };
  pwrt_kernel id = kernel("overlap_fb", capture, &seen);
  pwrt_stream s0 = stream("compute");
  pwrt_stream s1 = stream("other");
  ASSERT_EQ(pwrt_pool_create(ctx, 1024, 0), PWRT_OK);
  void *a, *b, *c, *d;
  ASSERT_EQ(pwrt_buffer_at(ctx, 0, 64, &a), PWRT_OK);
  ASSERT_EQ(pwrt_buffer_at(ctx, 64, 64, &b), PWRT_OK);
  ASSERT_EQ(pwrt_buffer_at(ctx, 128, 32, &c), PWRT_OK);
  ASSERT_EQ(pwrt_buffer_at(ctx, 160, 8, &d), PWRT_OK);
  pwrt_buffer inputs[2] = {{a, 64}, {b, 64}};
  pwrt_buffer outputs[1] = {{c, 32}};
  pwrt_buffer gradients[1] = {{d, 8}};
  pwrt_kernel_args args = argsFor(PWRT_ACTION_OVERLAP_FB, 2, 5);
  args.stage2 = 6;
  args.microbatch2 = 1;
  args.layer = 3;
  args.inputs = inputs;
  args.num_inputs = 2;
  args.outputs = outputs;
  args.num_outputs = 1;
  args.gradients = gradients;
  args.num_gradients = 1;
  args.user_data = reinterpret_cast<void *>(0x1); // ignored: registry's wins
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_launch(ctx, s1, id, &args), PWRT_OK);
  // The runtime copied the arrays: changing them now changes nothing.
  inputs[0].bytes = 1;
  outputs[0].data = nullptr;
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  (void)s0;

  EXPECT_EQ(seen.name, "overlap_fb");
  EXPECT_EQ(seen.args.kind, PWRT_ACTION_OVERLAP_FB);
  EXPECT_EQ(seen.args.stage, 2);
  EXPECT_EQ(seen.args.microbatch, 5);
  EXPECT_EQ(seen.args.stage2, 6);
  EXPECT_EQ(seen.args.microbatch2, 1);
  EXPECT_EQ(seen.args.layer, 3);
  EXPECT_EQ(seen.args.stream, s1);
  EXPECT_EQ(seen.args.rank, 0);
  EXPECT_EQ(seen.args.step, 1u);
  EXPECT_EQ(seen.args.native_stream, nullptr);
  EXPECT_NE(seen.thread, std::this_thread::get_id());
  ASSERT_EQ(seen.inputs.size(), 2u);
  EXPECT_EQ(seen.inputs[0].data, a);
  EXPECT_EQ(seen.inputs[0].bytes, 64u);
  EXPECT_EQ(seen.inputs[1].data, b);
  ASSERT_EQ(seen.outputs.size(), 1u);
  EXPECT_EQ(seen.outputs[0].data, c);
  EXPECT_EQ(seen.outputs[0].bytes, 32u);
  ASSERT_EQ(seen.gradients.size(), 1u);
  EXPECT_EQ(seen.gradients[0].data, d);
}

//===----------------------------------------------------------------------===//
// Pool
//===----------------------------------------------------------------------===//

TEST_F(Runtime, PoolSlotsAreOffsetsIntoOneZeroedAllocation) {
  void *slot = nullptr;
  EXPECT_EQ(pwrt_buffer_at(ctx, 0, 8, &slot), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(pwrt_pool_create(ctx, 0, 0), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_pool_create(ctx, 100, 3), PWRT_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(pwrt_pool_create(ctx, 10000, 0), PWRT_OK);
  EXPECT_EQ(pwrt_pool_create(ctx, 10000, 0), PWRT_ERROR_INVALID_STATE);

  void *base = nullptr;
  ASSERT_EQ(pwrt_buffer_at(ctx, 0, 10000, &base), PWRT_OK);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % 4096, 0u);
  const auto *bytes = static_cast<const unsigned char *>(base);
  for (size_t i = 0; i < 10000; ++i)
    ASSERT_EQ(bytes[i], 0) << i;
  ASSERT_EQ(pwrt_buffer_at(ctx, 4096, 1000, &slot), PWRT_OK);
  EXPECT_EQ(static_cast<char *>(slot) - static_cast<char *>(base), 4096);
  EXPECT_EQ(pwrt_buffer_at(ctx, 10000, 0, &slot), PWRT_OK);
  EXPECT_EQ(pwrt_buffer_at(ctx, 9000, 1001, &slot),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "slot [9000, 9000+1001) is outside the pool of 10000 bytes");
  EXPECT_EQ(pwrt_buffer_at(ctx, SIZE_MAX, 2, &slot),
            PWRT_ERROR_INVALID_ARGUMENT);
}

TEST_F(Runtime, PoolHonoursLargeAlignment) {
  ASSERT_EQ(pwrt_pool_create(ctx, 100, 1 << 16), PWRT_OK);
  void *base = nullptr;
  ASSERT_EQ(pwrt_buffer_at(ctx, 0, 100, &base), PWRT_OK);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % (1 << 16), 0u);
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

TEST_F(Runtime, CallsOutOfOrderAreRejected) {
  pwrt_kernel id = kernel("k", emptyKernel);
  pwrt_stream s = stream("compute");
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, 0);
  EXPECT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_ERROR_INVALID_STATE);
  EXPECT_STREQ(pwrt_last_error(ctx), "pwrt_launch outside a step");
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_INVALID_STATE);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  EXPECT_EQ(pwrt_step_begin(ctx), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(pwrt_launch(ctx, s + 1, id, &args), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_launch: no stream 1 (the context has 1)");
  EXPECT_EQ(pwrt_launch(ctx, s, id + 1, &args), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_launch(ctx, s, id, nullptr), PWRT_ERROR_INVALID_ARGUMENT);
  args.num_inputs = 1;
  EXPECT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_ERROR_INVALID_ARGUMENT);
  args.num_inputs = 0;
  args.layer = -2;
  EXPECT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_launch: layer -2 (a component's layer is >= 0; -1 for a "
               "launch that is not one)");
  EXPECT_EQ(pwrt_event_record(ctx, s, 0), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_register_kernel(ctx, "late", emptyKernel, nullptr, nullptr),
            PWRT_ERROR_INVALID_STATE);
  pwrt_stream late;
  EXPECT_EQ(pwrt_stream_create(ctx, "late", &late), PWRT_ERROR_INVALID_STATE);
  // One rank has no peer to talk to.
  char byte = 0;
  pwrt_transfer transfer = {&byte, 1, 0, 0, PWRT_PAYLOAD_ACTIVATION, 0, 0};
  EXPECT_EQ(pwrt_send(ctx, s, &transfer), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_send: peer 0 is not another rank of the 1");
  EXPECT_EQ(pwrt_p2p_group_end(ctx, s), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(pwrt_p2p_group_begin(ctx, s), PWRT_OK);
  EXPECT_EQ(pwrt_p2p_group_begin(ctx, s), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(pwrt_p2p_group_end(ctx, s), PWRT_OK); // empty: nothing to do
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK);
}

TEST_F(Runtime, StreamRunsItsWorkInOrder) {
  std::vector<int> order;
  pwrt_kernel id = kernel("record", recordOrder, &order);
  pwrt_stream s = stream("compute");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  for (int i = 0; i < 2000; ++i) {
    pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, i);
    ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  }
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  ASSERT_EQ(order.size(), 2000u);
  for (int i = 0; i < 2000; ++i)
    ASSERT_EQ(order[size_t(i)], i);
}

TEST_F(Runtime, StreamsRunConcurrentlyWithoutEvents) {
  // A 300 ms kernel on one stream does not hold up the other stream.
  struct Times {
    std::mutex mutex;
    std::vector<std::pair<int, Clock::time_point>> ends;
  } times;
  auto timed = [](const pwrt_kernel_args *args) {
    std::this_thread::sleep_for(std::chrono::milliseconds(args->microbatch));
    auto *times = static_cast<Times *>(args->user_data);
    std::lock_guard<std::mutex> lock(times->mutex);
    times->ends.emplace_back(args->microbatch, Clock::now());
    return PWRT_OK;
  };
  pwrt_kernel id = kernel("sleep", timed, &times);
  pwrt_stream slow = stream("slow");
  pwrt_stream fast = stream("fast");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, 300);
  ASSERT_EQ(pwrt_launch(ctx, slow, id, &args), PWRT_OK);
  args.microbatch = 1;
  ASSERT_EQ(pwrt_launch(ctx, fast, id, &args), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  ASSERT_EQ(times.ends.size(), 2u);
  EXPECT_EQ(times.ends[0].first, 1); // the fast one finished first
  double stepSeconds = 0;
  ASSERT_EQ(pwrt_step_seconds(ctx, &stepSeconds), PWRT_OK);
  EXPECT_GE(stepSeconds, 0.3);
}

TEST_F(Runtime, EventOrdersTwoStreams) {
  // Stream "consumer" waits for an event recorded after a 200 ms kernel on
  // stream "producer": its kernel must see the producer's write.
  struct Shared {
    std::atomic<int> produced{0};
    int seenByConsumer = -1;
  } shared;
  auto produce = [](const pwrt_kernel_args *args) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    static_cast<Shared *>(args->user_data)->produced.store(args->microbatch);
    return PWRT_OK;
  };
  auto consume = [](const pwrt_kernel_args *args) {
    auto *shared = static_cast<Shared *>(args->user_data);
    shared->seenByConsumer = shared->produced.load();
    return PWRT_OK;
  };
  pwrt_kernel produceId = kernel("produce", produce, &shared);
  pwrt_kernel consumeId = kernel("consume", consume, &shared);
  pwrt_stream producer = stream("producer");
  pwrt_stream consumer = stream("consumer");
  pwrt_event ready = event();
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, 42);
  ASSERT_EQ(pwrt_launch(ctx, producer, produceId, &args), PWRT_OK);
  ASSERT_EQ(pwrt_event_record(ctx, producer, ready), PWRT_OK);
  ASSERT_EQ(pwrt_stream_wait_event(ctx, consumer, ready), PWRT_OK);
  ASSERT_EQ(pwrt_launch(ctx, consumer, consumeId, &args), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  EXPECT_EQ(shared.seenByConsumer, 42);
}

TEST_F(Runtime, WaitIsForTheLatestRecordBeforeIt) {
  // Record twice on "a" around a slow kernel; "b" waits between the two
  // records, so it must not wait for the slow kernel, and a wait enqueued
  // after the second record must.
  struct Log {
    std::mutex mutex;
    std::vector<std::string> entries;
  } log;
  auto note = [](const pwrt_kernel_args *args) {
    if (args->microbatch > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(args->microbatch));
    auto *log = static_cast<Log *>(args->user_data);
    std::lock_guard<std::mutex> lock(log->mutex);
    log->entries.push_back(std::to_string(args->stream) + ":" +
                           std::to_string(args->stage));
    return PWRT_OK;
  };
  pwrt_kernel id = kernel("note", note, &log);
  pwrt_stream a = stream("a");
  pwrt_stream b = stream("b");
  pwrt_stream c = stream("c");
  pwrt_event marker = event();
  pwrt_event never = event();
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  // A never-recorded event is complete.
  ASSERT_EQ(pwrt_stream_wait_event(ctx, c, never), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 1, 0);
  ASSERT_EQ(pwrt_launch(ctx, a, id, &args), PWRT_OK); // a:1
  ASSERT_EQ(pwrt_event_record(ctx, a, marker), PWRT_OK);
  ASSERT_EQ(pwrt_stream_wait_event(ctx, b, marker), PWRT_OK);
  args = argsFor(PWRT_ACTION_FORWARD, 2, 300);
  ASSERT_EQ(pwrt_launch(ctx, a, id, &args), PWRT_OK); // a:2, slow
  ASSERT_EQ(pwrt_event_record(ctx, a, marker), PWRT_OK);
  args = argsFor(PWRT_ACTION_FORWARD, 3, 0);
  ASSERT_EQ(pwrt_launch(ctx, b, id, &args), PWRT_OK); // b:3
  ASSERT_EQ(pwrt_stream_wait_event(ctx, c, marker), PWRT_OK);
  args = argsFor(PWRT_ACTION_FORWARD, 4, 0);
  ASSERT_EQ(pwrt_launch(ctx, c, id, &args), PWRT_OK); // c:4
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  std::vector<std::string> expected = {"0:1", "1:3", "0:2", "2:4"};
  EXPECT_EQ(log.entries, expected);
}

TEST_F(Runtime, EventsAreReusedAcrossSteps) {
  std::vector<int> order;
  std::mutex mutex;
  struct Shared {
    std::vector<int> *order;
    std::mutex *mutex;
  } shared{&order, &mutex};
  auto push = [](const pwrt_kernel_args *args) {
    if (args->stream == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto *shared = static_cast<Shared *>(args->user_data);
    std::lock_guard<std::mutex> lock(*shared->mutex);
    shared->order->push_back(args->microbatch);
    return PWRT_OK;
  };
  pwrt_kernel id = kernel("push", push, &shared);
  pwrt_stream first = stream("first");
  pwrt_stream second = stream("second");
  pwrt_event done = event();
  for (int step = 0; step < 3; ++step) {
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, 2 * step);
    ASSERT_EQ(pwrt_launch(ctx, first, id, &args), PWRT_OK);
    ASSERT_EQ(pwrt_event_record(ctx, first, done), PWRT_OK);
    ASSERT_EQ(pwrt_stream_wait_event(ctx, second, done), PWRT_OK);
    args.microbatch = 2 * step + 1;
    ASSERT_EQ(pwrt_launch(ctx, second, id, &args), PWRT_OK);
    ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

TEST_F(Runtime, KernelFailureNamesRankStageMicrobatchAndKernel) {
  std::atomic<int> calls{0};
  auto counting = [](const pwrt_kernel_args *args) {
    static_cast<std::atomic<int> *>(args->user_data)->fetch_add(1);
    if (args->stage == 3 && args->microbatch == 7) {
      pwrt_kernel_set_error(args, "loss is NaN");
      return PWRT_ERROR_KERNEL_FAILED;
    }
    return PWRT_OK;
  };
  pwrt_kernel id = kernel("block_bwd", counting, &calls);
  pwrt_stream s = stream("compute");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  for (int mb = 0; mb < 10; ++mb) {
    pwrt_kernel_args args = argsFor(PWRT_ACTION_BACKWARD, 3, mb);
    ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  }
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_KERNEL_FAILED);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 0 failed: rank 0: kernel 'block_bwd' failed at stage 3, "
               "micro-batch 7 (backward) on stream 'compute': kernel failed: "
               "loss is NaN");
  // The kernels after the failure were skipped.
  EXPECT_EQ(calls.load(), 8);

  // The context survives a failed step.
  calls = 0;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_BACKWARD, 3, 1);
  ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(Runtime, ComponentKernelFailureNamesItsLayer) {
  auto failing = [](const pwrt_kernel_args *args) {
    if (args->layer != 1)
      return PWRT_OK;
    pwrt_kernel_set_error(args, "no saved state");
    return PWRT_ERROR_KERNEL_FAILED;
  };
  pwrt_kernel id = kernel("moe_mlp_bwd_in", failing);
  pwrt_stream s = stream("compute");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  for (int layer = 0; layer < 3; ++layer) {
    pwrt_kernel_args args = argsFor(PWRT_ACTION_BACKWARD_INPUT, 6, 2);
    args.layer = layer;
    ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  }
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_KERNEL_FAILED);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 0 failed: rank 0: kernel 'moe_mlp_bwd_in' failed at stage "
               "6, micro-batch 2, layer 1 (backward_input) on stream "
               "'compute': kernel failed: no saved state");
}

TEST_F(Runtime, KernelThrowingIsAFailureNotACrash) {
  auto throwing = [](const pwrt_kernel_args *) -> pwrt_status {
    throw std::runtime_error("boom");
  };
  pwrt_kernel id = kernel("thrower", throwing);
  pwrt_stream s = stream("compute");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 0, 0);
  ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_KERNEL_FAILED);
  EXPECT_NE(std::string(pwrt_last_error(ctx))
                .find("kernel 'thrower' failed at stage 0, micro-batch 0 "
                      "(forward) on stream 'compute': kernel failed: the "
                      "kernel threw a C++ exception"),
            std::string::npos)
      << pwrt_last_error(ctx);
}

TEST(RuntimeWatchdog, KernelPastTheTimeoutFailsTheStepFatally) {
  pwrt_context *ctx = createContext(/*timeoutSeconds=*/0.3);
  ASSERT_NE(ctx, nullptr);
  pwrt_kernel id = -1;
  ASSERT_EQ(pwrt_register_kernel(ctx, "stuck", sleepMicrobatchMs, nullptr, &id),
            PWRT_OK);
  pwrt_stream s;
  ASSERT_EQ(pwrt_stream_create(ctx, "compute", &s), PWRT_OK);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 1, 3000);
  args.layer = 0;
  ASSERT_EQ(pwrt_launch(ctx, s, id, &args), PWRT_OK);
  auto begin = Clock::now();
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_TIMEOUT);
  double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  EXPECT_LT(seconds, 2.5); // did not wait for the kernel
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 0 failed: rank 0: kernel 'stuck' at stage 1, micro-batch "
               "3000, layer 0 (forward) on stream 'compute' is still running "
               "after "
               "0.3 s");
  // Fatal: sticks to the context.
  EXPECT_EQ(pwrt_step_begin(ctx), PWRT_ERROR_TIMEOUT);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_ERROR_TIMEOUT);
}

TEST(RuntimeContextLifetime, DestroyInsideAStepAbandonsItFatally) {
  pwrt_context *ctx = createContext();
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_ERROR_INVALID_STATE);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "rank 0: the context was destroyed inside step 0");
}

//===----------------------------------------------------------------------===//
// Groups and all-to-all (one rank: the group of one, rows to itself)
//===----------------------------------------------------------------------===//

/// An all-to-all buffer of a group of one: a header of one row count, then
/// rows of `rowWords` int64 values; `rows` row capacity.
struct SelfBuffer {
  std::vector<int64_t> words;
  SelfBuffer(size_t rows, size_t rowWords) : words(1 + rows * rowWords, 0) {}
  size_t bytes() const { return words.size() * sizeof(int64_t); }
};

pwrt_all_to_all_args allToAllArgs(SelfBuffer &send, SelfBuffer &recv,
                                  size_t rowBytes) {
  pwrt_all_to_all_args args;
  std::memset(&args, 0, sizeof(args));
  args.send = send.words.data();
  args.send_bytes = send.bytes();
  args.recv = recv.words.data();
  args.recv_bytes = recv.bytes();
  args.row_bytes = rowBytes;
  args.name = "dispatch";
  args.kind = PWRT_ACTION_FORWARD;
  args.stage = 2;
  args.microbatch = 5;
  args.layer = 1;
  return args;
}

TEST_F(Runtime, GroupOfOneExchangesRowsWithItself) {
  int32_t self = 0;
  pwrt_group group = -1;
  ASSERT_EQ(pwrt_group_create(ctx, &self, 1, &group), PWRT_OK)
      << pwrt_last_error(ctx);
  EXPECT_EQ(group, 0);
  EXPECT_EQ(pwrt_group_size(ctx, group), 1);
  EXPECT_EQ(pwrt_group_rank(ctx, group), 0);
  EXPECT_EQ(pwrt_group_size(ctx, 1), -1);
  EXPECT_EQ(pwrt_group_rank(nullptr, group), -1);

  // Rows of 3 int64; the send buffer has room for 5, the header says 4;
  // then a step with no rows at all.
  pwrt_stream comm = stream("comm");
  SelfBuffer send(5, 3), recv(6, 3);
  for (int64_t rows : {4, 0}) {
    send.words[0] = rows;
    for (size_t i = 1; i < send.words.size(); ++i)
      send.words[i] = int64_t(100 * rows + i);
    std::fill(recv.words.begin(), recv.words.end(), -1);
    pwrt_all_to_all_args args = allToAllArgs(send, recv, 3 * sizeof(int64_t));
    ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
    ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK)
        << pwrt_last_error(ctx);
    ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
    EXPECT_EQ(recv.words[0], rows);
    for (size_t i = 1; i <= size_t(rows) * 3; ++i)
      EXPECT_EQ(recv.words[i], int64_t(100 * rows + i)) << i;
    // Past the received rows nothing is written.
    EXPECT_EQ(recv.words[size_t(rows) * 3 + 1], -1);
  }
}

TEST_F(Runtime, GroupCreateRejectsListsThatCannotBeGroups) {
  pwrt_group group = -1;
  int32_t outside[] = {0, 1};
  EXPECT_EQ(pwrt_group_create(ctx, outside, 2, &group),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_group_create: the ranks' groups do not agree: rank 0: "
               "member 1 is not a rank of the 1");
  int32_t twice[] = {0, 0};
  EXPECT_EQ(pwrt_group_create(ctx, twice, 2, &group),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_group_create: the ranks' groups do not agree: rank 0: "
               "rank 0 is listed twice");
  EXPECT_EQ(pwrt_group_create(ctx, twice, 0, &group),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_group_create(ctx, twice, 1, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(group, -1);
  // Nothing was created: the first good group is number 0.
  ASSERT_EQ(pwrt_group_create(ctx, twice, 1, &group), PWRT_OK);
  EXPECT_EQ(group, 0);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  EXPECT_EQ(pwrt_group_create(ctx, twice, 1, &group), PWRT_ERROR_INVALID_STATE);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK);
}

TEST_F(Runtime, AllToAllArgumentsAreChecked) {
  int32_t self = 0;
  pwrt_group group;
  ASSERT_EQ(pwrt_group_create(ctx, &self, 1, &group), PWRT_OK);
  pwrt_stream comm = stream("comm");
  SelfBuffer send(2, 1), recv(2, 1);
  pwrt_all_to_all_args args = allToAllArgs(send, recv, 8);
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_ERROR_INVALID_STATE);
  EXPECT_STREQ(pwrt_last_error(ctx), "pwrt_all_to_all outside a step");
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, 1, &args), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all: no group 1 (the context has 1)");
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
  pwrt_all_to_all_args bad = args;
  bad.row_bytes = 0;
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &bad),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all 'dispatch': row_bytes is 0");
  bad = args;
  bad.recv_bytes = 7;
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &bad),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all 'dispatch': the receive buffer has 7 bytes, "
               "less than its header of 1 row counts (8 bytes)");
  bad = args;
  bad.send = nullptr;
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &bad),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all 'dispatch': the send buffer is NULL");
  bad = args;
  bad.recv = send.words.data() + 1;
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &bad),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all 'dispatch': the send and receive buffers "
               "overlap");
  ASSERT_EQ(pwrt_p2p_group_begin(ctx, comm), PWRT_OK);
  EXPECT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_ERROR_INVALID_STATE);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "pwrt_all_to_all: stream 0 has an open p2p group");
  ASSERT_EQ(pwrt_p2p_group_end(ctx, comm), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
}

TEST_F(Runtime, RowsPastACapacityFailTheStepNamingTheAllToAll) {
  int32_t self = 0;
  pwrt_group group;
  ASSERT_EQ(pwrt_group_create(ctx, &self, 1, &group), PWRT_OK);
  pwrt_stream comm = stream("comm");
  // Rows of 16 bytes; the receive buffer holds 2 after its header.
  SelfBuffer send(4, 2), recv(2, 2);
  pwrt_all_to_all_args args = allToAllArgs(send, recv, 16);
  send.words[0] = 3;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_CAPACITY_EXCEEDED);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 0 failed: rank 0: all-to-all 'dispatch' (forward) at "
               "stage 2, micro-batch 5, layer 1 on stream 'comm': 3 rows of "
               "16 bytes arrive (rows from group ranks 0..0: 3) but the "
               "receive buffer holds 40 bytes (2 rows after the 8-byte "
               "header)");

  // The send header asks for more rows than the send buffer holds.
  send.words[0] = 5;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_CAPACITY_EXCEEDED);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 1 failed: rank 0: all-to-all 'dispatch' (forward) at "
               "stage 2, micro-batch 5, layer 1 on stream 'comm': the send "
               "header lists 5 rows of 16 bytes (rows for group ranks 0..0: "
               "5) but the send buffer holds 72 bytes (4 rows after the "
               "8-byte header)");

  send.words[0] = -1;
  args.name = nullptr;
  args.layer = -1;
  args.kind = PWRT_ACTION_BACKWARD;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(ctx),
               "step 2 failed: rank 0: all-to-all (backward) at stage 2, "
               "micro-batch 5 on stream 'comm': the send header's row count "
               "for group rank 0 is -1");

  // The context is still good.
  send.words[0] = 2;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK);
  EXPECT_EQ(pwrt_step_end(ctx), PWRT_OK) << pwrt_last_error(ctx);
  EXPECT_EQ(recv.words[0], 2);
}

//===----------------------------------------------------------------------===//
// Trace
//===----------------------------------------------------------------------===//

TEST(RuntimeTrace, SingleRankTraceHasKernelSlicesPerStream) {
  std::string path = ::testing::TempDir() + "pwrt-unit-trace.json";
  std::remove(path.c_str());
  pwrt_context *ctx = createContext(30, path.c_str());
  ASSERT_NE(ctx, nullptr);
  pwrt_kernel id;
  ASSERT_EQ(pwrt_register_kernel(ctx, "block \"fwd\"", sleepMicrobatchMs,
                                 nullptr, &id),
            PWRT_OK);
  pwrt_stream s0, s1;
  ASSERT_EQ(pwrt_stream_create(ctx, "compute", &s0), PWRT_OK);
  ASSERT_EQ(pwrt_stream_create(ctx, "side", &s1), PWRT_OK);
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  pwrt_kernel_args args = argsFor(PWRT_ACTION_FORWARD, 4, 2);
  ASSERT_EQ(pwrt_launch(ctx, s0, id, &args), PWRT_OK);
  args.layer = 1; // a component's launch
  ASSERT_EQ(pwrt_launch(ctx, s1, id, &args), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_context_destroy(ctx), PWRT_OK) << pwrt_last_error(nullptr);

  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::stringstream text;
  text << file.rdbuf();
  std::string json = text.str();
  EXPECT_EQ(json.rfind("{\"traceEvents\":[", 0), 0u);
  EXPECT_NE(json.find("\"name\":\"process_name\",\"args\":{\"name\":\"rank "
                      "0\"}"),
            std::string::npos);
  EXPECT_NE(json.find("\"tid\":1,\"name\":\"thread_name\",\"args\":{\"name\":"
                      "\"side\"}"),
            std::string::npos);
  // Both kernels, one on each stream, with escaped names and their args.
  for (int tid : {0, 1})
    EXPECT_NE(json.find(",\"tid\":" + std::to_string(tid) + ",\"ts\":"),
              std::string::npos);
  for (int layer : {-1, 1})
    EXPECT_NE(json.find("\"name\":\"block \\\"fwd\\\"\",\"cat\":\"kernel\","
                        "\"args\":{\"step\":0,\"kind\":\"forward\",\"stage\":4,"
                        "\"microbatch\":2,\"layer\":" +
                        std::to_string(layer) + "}"),
              std::string::npos)
        << json;
  EXPECT_NE(json.find("\"name\":\"step 0\",\"cat\":\"step\""),
            std::string::npos);
  std::remove(path.c_str());
}

TEST(RuntimeTrace, AllToAllIsOneTransferSliceWithItsLabels) {
  std::string path = ::testing::TempDir() + "pwrt-unit-trace-a2a.json";
  std::remove(path.c_str());
  pwrt_context *ctx = createContext(30, path.c_str());
  ASSERT_NE(ctx, nullptr);
  int32_t self = 0;
  pwrt_group group;
  ASSERT_EQ(pwrt_group_create(ctx, &self, 1, &group), PWRT_OK);
  pwrt_stream compute, comm;
  ASSERT_EQ(pwrt_stream_create(ctx, "compute", &compute), PWRT_OK);
  ASSERT_EQ(pwrt_stream_create(ctx, "comm", &comm), PWRT_OK);
  SelfBuffer send(4, 2), recv(4, 2);
  send.words[0] = 3;
  pwrt_all_to_all_args args = allToAllArgs(send, recv, 16);
  args.name = "combine";
  args.kind = PWRT_ACTION_BACKWARD;
  ASSERT_EQ(pwrt_step_begin(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_all_to_all(ctx, comm, group, &args), PWRT_OK);
  ASSERT_EQ(pwrt_step_end(ctx), PWRT_OK);
  ASSERT_EQ(pwrt_context_destroy(ctx), PWRT_OK) << pwrt_last_error(nullptr);

  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::stringstream text;
  text << file.rdbuf();
  std::string json = text.str();
  EXPECT_NE(json.find("\"tid\":1,\"ts\":"), std::string::npos) << json;
  EXPECT_NE(
      json.find("\"name\":\"all_to_all combine (backward)\",\"cat\":"
                "\"transfer\",\"args\":{\"step\":0,\"kind\":"
                "\"all_to_all\",\"direction\":\"backward\",\"stage\":2,"
                "\"microbatch\":5,\"layer\":1,\"group\":0,\"rows_sent\":3,"
                "\"rows_received\":3,\"row_bytes\":16}"),
      std::string::npos)
      << json;
  std::remove(path.c_str());
}

TEST(RuntimeTrace, UnwritableTracePathIsAnIoError) {
  pwrt_context *ctx = createContext(30, "/nonexistent-dir/trace.json");
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_ERROR_IO);
  EXPECT_NE(std::string(pwrt_last_error(nullptr))
                .find("cannot write the trace to '/nonexistent-dir/"
                      "trace.json'"),
            std::string::npos);
}

} // namespace
