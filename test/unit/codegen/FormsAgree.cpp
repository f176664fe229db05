//===- FormsAgree.cpp - flat calls and call tables issue the same step ----===//
//
// Links code that pwc generated (one form or the other) and the real
// pwrt_codegen against a stand-in for the runtime ABI that only writes down
// every call it gets. Runs each program's step as every one of its ranks in
// turn and prints the calls: the flat form and the table form of the same
// programs must print the same lines (the test compares them).
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"

#include <cstdio>
#include <string>
#include <vector>

// The generated programs (CMake compiles both specs in the same form).
extern "C" pwrt_status demo_step(pwrt_context *ctx);
extern "C" int32_t demo_num_ranks(void);
extern "C" pwrt_status train_step(pwrt_context *ctx);
extern "C" int32_t train_num_ranks(void);
extern "C" pwrt_status moe_dualpipe_step(pwrt_context *ctx);
extern "C" int32_t moe_dualpipe_num_ranks(void);

struct pwrt_context {
  int rank = 0;
  int worldSize = 1;
  std::vector<std::string> kernels;
  int streams = 0, events = 0;
};

namespace {
// Slots are written as pool offsets: the pool starts at a fake address.
char *const kPool = reinterpret_cast<char *>(0x100000);

std::string slot(const void *data, size_t bytes) {
  if (!data)
    return "-+" + std::to_string(bytes);
  return std::to_string(static_cast<const char *>(data) - kPool) + "+" +
         std::to_string(bytes);
}

void say(const pwrt_context *ctx, const std::string &line) {
  std::printf("rank %d: %s\n", ctx->rank, line.c_str());
}

std::string transfer(const char *what, pwrt_stream stream,
                     const pwrt_transfer *t) {
  return std::string(what) + " stream " + std::to_string(stream) + " peer " +
         std::to_string(t->peer) + " tag " + std::to_string(t->tag) +
         " payload " + std::to_string(t->payload) + " stage " +
         std::to_string(t->stage) + " mb " + std::to_string(t->microbatch) +
         " " + slot(t->data, t->bytes);
}
} // namespace

extern "C" {
const char *pwrt_last_error(const pwrt_context *) { return ""; }
// These contexts stay allocated, so their addresses are unique ids.
uint64_t pwrt_context_id(const pwrt_context *ctx) {
  return reinterpret_cast<uintptr_t>(ctx);
}
pwrt_status pwrt_group_create(pwrt_context *ctx, const int32_t *, size_t count,
                              pwrt_group *group) {
  say(ctx, "group create " + std::to_string(count));
  *group = 0;
  return PWRT_OK;
}
pwrt_status pwrt_all_to_all(pwrt_context *ctx, pwrt_stream stream, pwrt_group,
                            const pwrt_all_to_all_args *args) {
  say(ctx, std::string("all_to_all ") + (args->name ? args->name : "-") +
               " stream " + std::to_string(stream) + " kind " +
               std::to_string(args->kind) + " stage " +
               std::to_string(args->stage) + " mb " +
               std::to_string(args->microbatch) + " layer " +
               std::to_string(args->layer) + " " +
               slot(args->send, args->send_bytes) + " " +
               slot(args->recv, args->recv_bytes) + " rows of " +
               std::to_string(args->row_bytes));
  return PWRT_OK;
}
int pwrt_rank(const pwrt_context *ctx) { return ctx->rank; }
int pwrt_world_size(const pwrt_context *ctx) { return ctx->worldSize; }

pwrt_status pwrt_require_kernels(pwrt_context *ctx, const char *const *names,
                                 size_t count) {
  std::string line = "require";
  for (size_t i = 0; i < count; ++i) {
    ctx->kernels.push_back(names[i]);
    line += std::string(" ") + names[i];
  }
  say(ctx, line);
  return PWRT_OK;
}

pwrt_status pwrt_kernel_lookup(pwrt_context *ctx, const char *name,
                               pwrt_kernel *id) {
  for (size_t i = 0; i < ctx->kernels.size(); ++i)
    if (ctx->kernels[i] == name) {
      *id = static_cast<pwrt_kernel>(i);
      return PWRT_OK;
    }
  return PWRT_ERROR_MISSING_KERNEL;
}

pwrt_status pwrt_pool_create(pwrt_context *ctx, size_t bytes, size_t) {
  say(ctx, "pool " + std::to_string(bytes));
  return PWRT_OK;
}

pwrt_status pwrt_buffer_at(pwrt_context *, size_t offset, size_t, void **data) {
  *data = kPool + offset;
  return PWRT_OK;
}

pwrt_status pwrt_stream_create(pwrt_context *ctx, const char *name,
                               pwrt_stream *stream) {
  say(ctx, std::string("stream ") + name);
  *stream = ctx->streams++;
  return PWRT_OK;
}

pwrt_status pwrt_event_create(pwrt_context *ctx, pwrt_event *event) {
  *event = ctx->events++;
  return PWRT_OK;
}

pwrt_status pwrt_launch(pwrt_context *ctx, pwrt_stream stream,
                        pwrt_kernel kernel, const pwrt_kernel_args *args) {
  std::string line = "launch " + ctx->kernels.at(kernel) + " stream " +
                     std::to_string(stream) + " kind " +
                     std::to_string(args->kind) + " stage " +
                     std::to_string(args->stage) + " mb " +
                     std::to_string(args->microbatch) + " layer " +
                     std::to_string(args->layer) + " in";
  for (size_t i = 0; i < args->num_inputs; ++i)
    line += " " + slot(args->inputs[i].data, args->inputs[i].bytes);
  line += " out";
  for (size_t i = 0; i < args->num_outputs; ++i)
    line += " " + slot(args->outputs[i].data, args->outputs[i].bytes);
  say(ctx, line);
  return PWRT_OK;
}

pwrt_status pwrt_event_record(pwrt_context *ctx, pwrt_stream stream,
                              pwrt_event event) {
  say(ctx, "record stream " + std::to_string(stream) + " event " +
               std::to_string(event));
  return PWRT_OK;
}

pwrt_status pwrt_stream_wait_event(pwrt_context *ctx, pwrt_stream stream,
                                   pwrt_event event) {
  say(ctx, "wait stream " + std::to_string(stream) + " event " +
               std::to_string(event));
  return PWRT_OK;
}

pwrt_status pwrt_p2p_group_begin(pwrt_context *ctx, pwrt_stream stream) {
  say(ctx, "group begin stream " + std::to_string(stream));
  return PWRT_OK;
}

pwrt_status pwrt_send(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *t) {
  say(ctx, transfer("send", stream, t));
  return PWRT_OK;
}

pwrt_status pwrt_recv(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *t) {
  say(ctx, transfer("recv", stream, t));
  return PWRT_OK;
}

pwrt_status pwrt_p2p_group_end(pwrt_context *ctx, pwrt_stream stream) {
  say(ctx, "group end stream " + std::to_string(stream));
  return PWRT_OK;
}

pwrt_status pwrt_step_begin(pwrt_context *ctx) {
  say(ctx, "step begin");
  return PWRT_OK;
}

pwrt_status pwrt_step_end(pwrt_context *ctx) {
  say(ctx, "step end");
  return PWRT_OK;
}

pwrt_status pwrt_step_fail(pwrt_context *ctx, pwrt_status status,
                           const char *message) {
  say(ctx, "step fail " + std::to_string(status) + " " + message);
  return PWRT_OK;
}
} // extern "C"

/// Runs `step` as each of its ranks, twice (the second step reuses the
/// set-up of the first).
static int runAllRanks(const char *name, pwrt_status (*step)(pwrt_context *),
                       int32_t ranks) {
  // pwrt_codegen keeps a rank's set-up per context id (here the address):
  // contexts of different programs must not share one, so these stay
  // allocated.
  auto &contexts = *new std::vector<pwrt_context>(ranks);
  for (int32_t rank = 0; rank < ranks; ++rank) {
    contexts[rank].rank = rank;
    contexts[rank].worldSize = ranks;
  }
  for (int repeat = 0; repeat < 2; ++repeat)
    for (pwrt_context &ctx : contexts)
      if (pwrt_status status = step(&ctx); status != PWRT_OK) {
        std::fprintf(stderr, "%s rank %d: status %d\n", name, ctx.rank, status);
        return 1;
      }
  return 0;
}

int main() {
  // moe_dualpipe runs on 2 expert-parallel processes per pipeline rank.
  return runAllRanks("demo", demo_step, demo_num_ranks()) |
         runAllRanks("train", train_step, train_num_ranks()) |
         runAllRanks("moe_dualpipe", moe_dualpipe_step,
                     2 * moe_dualpipe_num_ranks());
}
