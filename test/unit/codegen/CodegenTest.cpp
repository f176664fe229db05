//===- CodegenTest.cpp - the calls generated code makes -------------------===//
//
// One rank (MPI singleton) on the host backend: a call table run by
// pwrt_cg_run launches the same kernels with the same buffers as the flat
// pwrt_cg_* calls it stands for, and a malformed record fails the step like
// a failing call does. The tables are written by hand from the layout that
// pwrt_codegen.h documents.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt_codegen.h"

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

/// What one kernel call saw: buffers as pool offset+bytes ("-" for none).
struct Seen {
  std::string kernel;
  int kind, stage, microbatch;
  std::vector<std::string> inputs, outputs;
  bool operator==(const Seen &) const = default;
};

struct Recorder {
  std::mutex mutex;
  char *pool = nullptr;
  std::vector<Seen> seen;
};

std::string slotOf(const Recorder &recorder, const pwrt_buffer &buffer) {
  if (!buffer.data)
    return "-";
  return std::to_string(static_cast<char *>(buffer.data) - recorder.pool) +
         "+" + std::to_string(buffer.bytes);
}

pwrt_status record(const pwrt_kernel_args *args) {
  auto &recorder = *static_cast<Recorder *>(args->user_data);
  Seen seen{args->kernel_name, args->kind, args->stage,
            args->microbatch,  {},         {}};
  for (size_t i = 0; i < args->num_inputs; ++i)
    seen.inputs.push_back(slotOf(recorder, args->inputs[i]));
  for (size_t i = 0; i < args->num_outputs; ++i)
    seen.outputs.push_back(slotOf(recorder, args->outputs[i]));
  std::lock_guard<std::mutex> lock(recorder.mutex);
  recorder.seen.push_back(seen);
  return PWRT_OK;
}

constexpr const char *kProgram = "t";
constexpr int64_t kPool = 4096;
constexpr const char *kKernels = "bwd,fwd,loss"; // indices 0, 1, 2

void begin(pwrt_context *ctx) {
  pwrt_cg_rank_begin(ctx, kProgram, 1, 0, kPool, 1, kKernels);
}

/// The step as flat calls.
void flatStep(pwrt_context *ctx) {
  begin(ctx);
  pwrt_cg_launch(ctx, 0, 1, PWRT_CG_FORWARD, 0, 3, -1, 0, -1, 0, 0, 64, 64,
                 256);
  pwrt_cg_launch(ctx, 0, 2, PWRT_CG_LOSS, 0, 3, 0, 64, -1, 0, 320, 64, -1, 0);
  pwrt_cg_record(ctx, 0, 0);
  pwrt_cg_wait(ctx, 1, 0);
  pwrt_cg_group_begin(ctx, 1);
  pwrt_cg_group_end(ctx, 1);
  pwrt_cg_launch(ctx, 0, 0, PWRT_CG_BACKWARD_INPUT, 0, 3, 320, 64, 64, 256, 384,
                 64, -1, 0);
  pwrt_cg_launch(ctx, 0, 0, PWRT_CG_BACKWARD_WEIGHT, 0, 3, 320, 64, 64, 256, -1,
                 0, -1, 0);
  pwrt_cg_rank_end(ctx);
}

// The same step as a table. Slots: 0 = 0+64, 1 = 64+256, 2 = 320+64,
// 3 = 384+64.
const int64_t kSlots[] = {0, 64, 64, 256, 320, 64, 384, 64};
const int32_t kRecords[] = {
    PWRT_CG_OP_LAUNCH,
    0,
    1,
    PWRT_CG_FORWARD,
    0,
    3,
    -1,
    -1,
    0,
    1,
    PWRT_CG_OP_LAUNCH,
    0,
    2,
    PWRT_CG_LOSS,
    0,
    3,
    0,
    -1,
    2,
    -1,
    PWRT_CG_OP_RECORD,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    PWRT_CG_OP_WAIT,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    PWRT_CG_OP_GROUP_BEGIN,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    PWRT_CG_OP_GROUP_END,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    PWRT_CG_OP_LAUNCH,
    0,
    0,
    PWRT_CG_BACKWARD_INPUT,
    0,
    3,
    2,
    1,
    3,
    -1,
    PWRT_CG_OP_LAUNCH,
    0,
    0,
    PWRT_CG_BACKWARD_WEIGHT,
    0,
    3,
    2,
    1,
    -1,
    -1,
};
constexpr int64_t kNumRecords =
    sizeof(kRecords) / sizeof(kRecords[0]) / PWRT_CG_RECORD_WIDTH;

void tableStep(pwrt_context *ctx, const int32_t *records, int64_t count) {
  begin(ctx);
  pwrt_cg_run(ctx, records, count, kSlots, 4);
  pwrt_cg_rank_end(ctx);
}

// One context for all: pwrt_codegen keeps its state per context for the
// life of the process, for the one program a context runs.
class Codegen : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    pwrt_context_options options;
    pwrt_context_options_init(&options);
    options.flags = PWRT_FLAG_QUIET;
    options.timeout_seconds = 30;
    ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK)
        << pwrt_last_error(nullptr);
    for (const char *name : {"bwd", "fwd", "loss"})
      ASSERT_EQ(pwrt_register_kernel(ctx, name, record, &recorder, nullptr),
                PWRT_OK);
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
  }
  void SetUp() override {
    std::lock_guard<std::mutex> lock(recorder.mutex);
    recorder.seen.clear();
  }
  /// Runs `step` and returns what the kernels saw.
  template <typename Step> std::vector<Seen> run(Step step) {
    SetUp();
    step();
    std::lock_guard<std::mutex> lock(recorder.mutex);
    return recorder.seen;
  }

  static pwrt_context *ctx;
  static Recorder recorder;
};
pwrt_context *Codegen::ctx = nullptr;
Recorder Codegen::recorder;

TEST_F(Codegen, TableLaunchesWhatFlatCallsLaunch) {
  // Set the rank up with one empty step, to know the pool's address.
  begin(ctx);
  pwrt_cg_rank_end(ctx);
  ASSERT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_OK);
  void *base = nullptr;
  ASSERT_EQ(pwrt_buffer_at(ctx, 0, 1, &base), PWRT_OK);
  recorder.pool = static_cast<char *>(base);

  std::vector<Seen> flat = run([] { flatStep(ctx); });
  ASSERT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_OK);
  std::vector<Seen> table = run([] { tableStep(ctx, kRecords, kNumRecords); });
  ASSERT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_OK);

  // What the kernels see, from pwrt_codegen.h's buffer positions by kind.
  std::vector<Seen> expected = {
      {"fwd", PWRT_ACTION_FORWARD, 0, 3, {"-"}, {"0+64", "64+256"}},
      {"loss", PWRT_ACTION_OTHER, 0, 3, {"0+64"}, {"320+64"}},
      {"bwd",
       PWRT_ACTION_BACKWARD_INPUT,
       0,
       3,
       {"320+64", "64+256"},
       {"384+64"}},
      {"bwd", PWRT_ACTION_BACKWARD_WEIGHT, 0, 3, {"320+64", "64+256"}, {}},
  };
  EXPECT_EQ(flat, expected);
  EXPECT_EQ(table, expected);
}

TEST_F(Codegen, MalformedRecordsFailTheStepAndNameTheRecord) {
  struct Case {
    int record, field, value;
    const char *message;
  };
  const Case cases[] = {
      {2, 0, 9, "call table record 2: unknown op code 9"},
      {3, 1, 2, "event wait: stream 2 (expected 0 or 1)"},
      {2, 2, 5, "event record: event 5 of 1"},
      {0, 9, 7, "call table record 0: slot 7 of 4"},
      {6, 2, 4, "kernel index 4"},
  };
  for (const Case &c : cases) {
    std::vector<int32_t> records(std::begin(kRecords), std::end(kRecords));
    records[c.record * PWRT_CG_RECORD_WIDTH + c.field] = c.value;
    tableStep(ctx, records.data(), kNumRecords);
    EXPECT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_ERROR_INVALID_ARGUMENT)
        << c.message;
    std::string error = pwrt_last_error(ctx);
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
  }
  // The flat calls check the same.
  begin(ctx);
  pwrt_cg_wait(ctx, 1, 5);
  pwrt_cg_rank_end(ctx);
  EXPECT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pwrt_last_error(ctx)).find("event wait: event 5 of 1"),
            std::string::npos)
      << pwrt_last_error(ctx);
  // And the next step runs.
  tableStep(ctx, kRecords, kNumRecords);
  EXPECT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_OK) << pwrt_last_error(ctx);
}

// A context created after another was destroyed (possibly at its address)
// is set up again: pwrt_codegen keys its state by pwrt_context_id.
TEST(CodegenContexts, NewContextIsSetUpAgain) {
  uint64_t previousId = 0;
  for (int round = 0; round < 2; ++round) {
    pwrt_context_options options;
    pwrt_context_options_init(&options);
    options.flags = PWRT_FLAG_QUIET;
    options.timeout_seconds = 30;
    pwrt_context *ctx = nullptr;
    ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK)
        << pwrt_last_error(nullptr);
    uint64_t id = pwrt_context_id(ctx);
    EXPECT_NE(id, 0u);
    EXPECT_NE(id, previousId);
    previousId = id;
    Recorder recorder;
    for (const char *name : {"bwd", "fwd", "loss"})
      ASSERT_EQ(pwrt_register_kernel(ctx, name, record, &recorder, nullptr),
                PWRT_OK);
    flatStep(ctx);
    EXPECT_EQ(pwrt_cg_result(ctx, kProgram, 1), PWRT_OK)
        << "round " << round << ": " << pwrt_last_error(ctx);
    EXPECT_EQ(recorder.seen.size(), 4u) << "round " << round;
    EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
  }
}

} // namespace
