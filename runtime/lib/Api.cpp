//===- Api.cpp - The C entry points ---------------------------------------===//
//
// Every entry point validates its arguments, keeps the state that does not
// depend on the backend (kernel registry, pool bounds, open p2p groups, step
// bracketing, sticky fatal error) and forwards the work to the Backend. No
// exception leaves this file: each entry point turns them into a status.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "Selection.h"
#include "pwrt/pwrt_cuda.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

using namespace pwrt;

/// Ids of contexts however they are made (one or many per process).
static uint64_t nextContextId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

struct pwrt_context {
  /// Unique among the contexts of the process (pwrt_context_id), so that
  /// layers keeping per-context state never mistake a new context at a
  /// destroyed one's address for it.
  uint64_t id = nextContextId();
  ResolvedOptions options;
  KernelTable kernels;
  std::unordered_map<std::string, pwrt_kernel> kernelIds;
  std::unique_ptr<Backend> backend;

  void *poolBase = nullptr;
  size_t poolBytes = 0;
  int numStreams = 0;
  int numEvents = 0;
  // The group each stream is collecting, if one is open.
  std::vector<std::optional<std::vector<Transfer>>> openGroups;
  // Process groups by pwrt_group: members' ranks, by group rank.
  std::vector<std::vector<int>> groups;

  bool inStep = false;
  uint64_t nextStep = 0;
  std::chrono::steady_clock::time_point stepBegin;
  double lastStepSeconds = -1;

  Error fatal; // sticky: every later call fails with it
  bool fatalPrinted = false;
  std::string lastError;
};

namespace {

thread_local std::string threadLastError;

pwrt_status setError(pwrt_context *ctx, const Error &error) {
  if (!ctx) {
    threadLastError = error.message;
    return error.code;
  }
  ctx->lastError = error.message;
  if (error.fatal && !ctx->fatal)
    ctx->fatal = error;
  return error.code;
}

/// Prints an error that ends a step or the setup (see "Errors" in pwrt.h).
void printError(const pwrt_context *ctx, bool quiet,
                const std::string &message) {
  if (quiet)
    return;
  std::string line =
      ctx ? fmt::format("pwrt[rank {}/{}]: error: {}\n", ctx->backend->rank(),
                        ctx->backend->worldSize(), message)
          : fmt::format("pwrt: error: {}\n", message);
  // One write: lines of different ranks do not interleave.
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

template <typename Body>
pwrt_status guarded(pwrt_context *ctx, Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return setError(ctx, Error(PWRT_ERROR_OUT_OF_MEMORY, "out of memory"));
  } catch (const std::exception &exception) {
    return setError(ctx, makeError(PWRT_ERROR_INTERNAL, "internal error: {}",
                                   exception.what()));
  } catch (...) {
    return setError(ctx, Error(PWRT_ERROR_INTERNAL, "internal error: unknown"));
  }
}

Error invalid(const std::string &message) {
  return Error(PWRT_ERROR_INVALID_ARGUMENT, message);
}

/// Checks shared by the calls that enqueue work.
Error checkEnqueue(pwrt_context *ctx, pwrt_stream stream, const char *call) {
  if (ctx->fatal)
    return ctx->fatal;
  if (!ctx->inStep)
    return makeError(PWRT_ERROR_INVALID_STATE, "{} outside a step", call);
  if (stream < 0 || stream >= ctx->numStreams)
    return invalid(fmt::format("{}: no stream {} (the context has {})", call,
                               stream, ctx->numStreams));
  return Error::ok();
}

Error checkSetup(pwrt_context *ctx, const char *call) {
  if (ctx->fatal)
    return ctx->fatal;
  if (ctx->inStep)
    return makeError(PWRT_ERROR_INVALID_STATE, "{} inside a step", call);
  return Error::ok();
}

Error resolveOptions(const pwrt_context_options *given,
                     ResolvedOptions &resolved) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  if (given) {
    if (given->struct_size <
            offsetof(pwrt_context_options, backend) + sizeof(given->backend) ||
        given->struct_size > sizeof(pwrt_context_options))
      return invalid(fmt::format(
          "pwrt_context_options.struct_size is {} (this runtime knows {}); "
          "call pwrt_context_options_init",
          given->struct_size, sizeof(pwrt_context_options)));
    // A caller compiled against an older, shorter struct keeps the
    // defaults of the fields it does not know.
    std::memcpy(&options, given, given->struct_size);
  }
  if (int(options.backend) == kBackendFromBadEnvironment) {
    const char *text = std::getenv("PW_BACKEND");
    return invalid(fmt::format(
        "PW_BACKEND='{}' names no backend (host or cuda)", text ? text : ""));
  }
  if (options.backend != PWRT_BACKEND_HOST &&
      options.backend != PWRT_BACKEND_CUDA)
    return invalid(fmt::format("unknown backend {}", int(options.backend)));
  if (options.expected_world_size < 0)
    return invalid(
        fmt::format("expected_world_size is {}", options.expected_world_size));
  resolved.backend = options.backend;
  resolved.expectedWorldSize = options.expected_world_size;
  resolved.quiet = options.flags & PWRT_FLAG_QUIET;

  resolved.timeoutSeconds = 60;
  if (options.timeout_seconds > 0) {
    resolved.timeoutSeconds = options.timeout_seconds;
  } else if (const char *text = std::getenv("PW_TIMEOUT"); text && *text) {
    char *end = nullptr;
    double seconds = std::strtod(text, &end);
    if (*end != '\0' || !(seconds > 0))
      return invalid(fmt::format(
          "PW_TIMEOUT='{}' is not a positive number of seconds", text));
    resolved.timeoutSeconds = seconds;
  }

  if (options.trace_path)
    resolved.tracePath = options.trace_path;
  else if (const char *path = std::getenv("PW_TRACE"))
    resolved.tracePath = path;
  return Error::ok();
}

Error addTransfer(pwrt_context *ctx, pwrt_stream stream,
                  const pwrt_transfer *transfer, bool isSend) {
  const char *call = isSend ? "pwrt_send" : "pwrt_recv";
  if (Error error = checkEnqueue(ctx, stream, call))
    return error;
  if (!transfer)
    return invalid(fmt::format("{}: transfer is NULL", call));
  int worldSize = ctx->backend->worldSize();
  int rank = ctx->backend->rank();
  if (transfer->peer < 0 || transfer->peer >= worldSize ||
      (transfer->peer == rank && !ctx->backend->allowsSelfTransfers()))
    return invalid(fmt::format("{}: peer {} is not another rank of the {}",
                               call, transfer->peer, worldSize));
  int maxTag = std::min(ctx->backend->maxTag(), (1 << 30) - 1);
  if (transfer->tag < 0 || transfer->tag > maxTag)
    return invalid(fmt::format("{}: tag {} is outside 0..{}", call,
                               transfer->tag, maxTag));
  if (!transfer->data && transfer->bytes > 0)
    return invalid(fmt::format("{}: data is NULL", call));
  Transfer entry{isSend, *transfer};
  auto &group = ctx->openGroups[size_t(stream)];
  if (group) {
    group->push_back(entry);
    return Error::ok();
  }
  return ctx->backend->submitGroup(stream, std::vector<Transfer>{entry});
}

/// Whether the caller's options ask for silence (for failures before a
/// context exists).
bool quietRequested(const pwrt_context_options *options) {
  return options &&
         options->struct_size > offsetof(pwrt_context_options, flags) &&
         (options->flags & PWRT_FLAG_QUIET);
}

std::string formatRanks(const std::vector<int> &ranks) {
  std::string text = "{";
  for (size_t i = 0; i < ranks.size(); ++i)
    text += fmt::format("{}{}", i ? ", " : "", ranks[i]);
  return text + "}";
}

/// This rank's part of pwrt_group_create's agreement: its member list as
/// "r0,r1,...", or "!" and why the list is unusable.
std::string describeGroupArgument(int rank, int worldSize, const int32_t *ranks,
                                  size_t count, std::vector<int> &members) {
  if (!ranks || count == 0)
    return "!no members (ranks is NULL or count is 0)";
  for (size_t i = 0; i < count; ++i) {
    int member = ranks[i];
    if (member < 0 || member >= worldSize)
      return fmt::format("!member {} is not a rank of the {}", member,
                         worldSize);
    if (std::find(members.begin(), members.end(), member) != members.end())
      return fmt::format("!rank {} is listed twice", member);
    members.push_back(member);
  }
  if (std::find(members.begin(), members.end(), rank) == members.end())
    return fmt::format("!the group {} does not contain the calling rank",
                       formatRanks(members));
  std::string text;
  for (int member : members)
    text += fmt::format("{}{}", text.empty() ? "" : ",", member);
  return text;
}

/// Every rank's group lists (as describeGroupArgument wrote them) agree:
/// each member of a group lists the same group. Returns what disagrees
/// (the same text on every rank), or "".
std::string checkGroupAgreement(const std::vector<std::string> &all) {
  std::vector<std::vector<int>> lists(all.size());
  std::vector<std::string> problems;
  for (size_t rank = 0; rank < all.size(); ++rank) {
    const std::string &text = all[rank];
    if (!text.empty() && text[0] == '!') {
      problems.push_back(fmt::format("rank {}: {}", rank, text.substr(1)));
      continue;
    }
    size_t begin = 0;
    while (begin < text.size()) {
      size_t end = text.find(',', begin);
      if (end == std::string::npos)
        end = text.size();
      lists[rank].push_back(std::stoi(text.substr(begin, end - begin)));
      begin = end + 1;
    }
  }
  if (problems.empty()) {
    for (size_t rank = 0; rank < all.size(); ++rank)
      for (int member : lists[rank])
        if (lists[size_t(member)] != lists[rank]) {
          problems.push_back(
              fmt::format("rank {} lists {} but rank {} lists {}", rank,
                          formatRanks(lists[rank]), member,
                          formatRanks(lists[size_t(member)])));
          break;
        }
  }
  if (problems.empty())
    return "";
  std::string message = "pwrt_group_create: the ranks' groups do not agree: ";
  for (size_t i = 0; i < problems.size() && i < 3; ++i)
    message += (i ? "; " : "") + problems[i];
  if (problems.size() > 3)
    message += fmt::format("; and {} more", problems.size() - 3);
  return message;
}

} // namespace

//===----------------------------------------------------------------------===//
// Status and context
//===----------------------------------------------------------------------===//

extern "C" {

int pwrt_abi_version(void) { return PWRT_ABI_VERSION; }

const char *pwrt_status_string(pwrt_status status) {
  return statusString(status);
}

const char *pwrt_last_error(const pwrt_context *ctx) {
  return ctx ? ctx->lastError.c_str() : threadLastError.c_str();
}

void pwrt_context_options_init(pwrt_context_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->backend =
      pwrt_backend(backendFromEnvironment(std::getenv("PW_BACKEND")));
}

pwrt_status pwrt_context_create(const pwrt_context_options *options,
                                pwrt_context **ctx) {
  return guarded(nullptr, [&] {
    if (!ctx)
      return setError(nullptr, invalid("pwrt_context_create: ctx is NULL"));
    *ctx = nullptr;
    auto context = std::make_unique<pwrt_context>();
    Error error = resolveOptions(options, context->options);
    if (!error)
      context->backend =
          context->options.backend == PWRT_BACKEND_CUDA
              ? createCudaBackend(context->options, context->kernels, error)
              : createHostBackend(context->options, context->kernels, error);
    if (error) {
      printError(nullptr, quietRequested(options), error.message);
      return setError(nullptr, error);
    }
    *ctx = context.release();
    return PWRT_OK;
  });
}

uint64_t pwrt_context_id(const pwrt_context *ctx) { return ctx ? ctx->id : 0; }

pwrt_status pwrt_context_destroy(pwrt_context *ctx) {
  if (!ctx)
    return PWRT_OK;
  pwrt_status status = guarded(nullptr, [&] {
    if (ctx->inStep && !ctx->fatal)
      ctx->backend->abandonStep(fmt::format(
          "the context was destroyed inside step {}", ctx->nextStep - 1));
    Error error = ctx->backend->shutdown();
    if (error && !error.fatal)
      printError(ctx, ctx->options.quiet, error.message);
    else if (error && !ctx->fatalPrinted)
      printError(ctx, ctx->options.quiet, error.message);
    return setError(nullptr, error);
  });
  if (ctx->backend && ctx->backend->hasStuckThreads())
    return status; // the stuck kernel still uses ctx; the process ends
  if (ctx->poolBase)
    ctx->backend->freePool(ctx->poolBase);
  delete ctx;
  return status;
}

pwrt_status pwrt_cuda_contexts_create(const pwrt_context_options *options,
                                      int32_t count, const int32_t *devices,
                                      pwrt_context **contexts) {
  return guarded(nullptr, [&] {
    if (!contexts)
      return setError(nullptr,
                      invalid("pwrt_cuda_contexts_create: contexts is NULL"));
    if (count < 1)
      return setError(nullptr,
                      invalid(fmt::format("pwrt_cuda_contexts_create: count "
                                          "is {}",
                                          count)));
    std::fill(contexts, contexts + count, nullptr);
    std::vector<std::unique_ptr<pwrt_context>> created;
    std::vector<const KernelTable *> tables;
    ResolvedOptions resolved;
    Error error = resolveOptions(options, resolved);
    if (!error && resolved.backend != PWRT_BACKEND_CUDA)
      error = invalid("pwrt_cuda_contexts_create needs backend "
                      "PWRT_BACKEND_CUDA");
    if (!error && resolved.expectedWorldSize != 0 &&
        resolved.expectedWorldSize != count)
      error = makeError(PWRT_ERROR_WORLD_SIZE_MISMATCH,
                        "the program was compiled for {} ranks but asks for {} "
                        "in this process",
                        resolved.expectedWorldSize, count);
    std::vector<std::unique_ptr<Backend>> backends;
    if (!error) {
      for (int32_t r = 0; r < count; ++r) {
        created.push_back(std::make_unique<pwrt_context>());
        created.back()->options = resolved;
        tables.push_back(&created.back()->kernels);
      }
      std::vector<int> deviceList;
      if (devices)
        deviceList.assign(devices, devices + count);
      error = createCudaLocalBackends(resolved, tables, deviceList, backends);
    }
    if (error) {
      printError(nullptr, quietRequested(options), error.message);
      return setError(nullptr, error);
    }
    for (int32_t r = 0; r < count; ++r) {
      created[size_t(r)]->backend = std::move(backends[size_t(r)]);
      contexts[r] = created[size_t(r)].release();
    }
    return PWRT_OK;
  });
}

int pwrt_cuda_device(const pwrt_context *ctx) {
  return ctx ? ctx->backend->device() : -1;
}

int pwrt_rank(const pwrt_context *ctx) {
  return ctx ? ctx->backend->rank() : -1;
}

int pwrt_world_size(const pwrt_context *ctx) {
  return ctx ? ctx->backend->worldSize() : -1;
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

pwrt_status pwrt_register_kernel(pwrt_context *ctx, const char *name,
                                 pwrt_kernel_fn fn, void *user_data,
                                 pwrt_kernel *id) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_register_kernel"))
      return setError(ctx, error);
    if (!name || !*name)
      return setError(ctx, invalid("pwrt_register_kernel: empty name"));
    if (!fn)
      return setError(
          ctx, invalid(fmt::format("pwrt_register_kernel: kernel '{}' is NULL",
                                   name)));
    if (ctx->kernelIds.count(name))
      return setError(
          ctx, invalid(fmt::format("kernel '{}' is registered already", name)));
    pwrt_kernel kernel = pwrt_kernel(ctx->kernels.size());
    ctx->kernels.push_back(KernelEntry{name, fn, user_data});
    ctx->kernelIds.emplace(name, kernel);
    if (id)
      *id = kernel;
    return PWRT_OK;
  });
}

pwrt_status pwrt_kernel_lookup(pwrt_context *ctx, const char *name,
                               pwrt_kernel *id) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (!name || !id)
      return setError(ctx, invalid("pwrt_kernel_lookup: NULL argument"));
    auto found = ctx->kernelIds.find(name);
    if (found == ctx->kernelIds.end())
      return setError(ctx, makeError(PWRT_ERROR_MISSING_KERNEL,
                                     "no kernel is registered as '{}'", name));
    *id = found->second;
    return PWRT_OK;
  });
}

pwrt_status pwrt_require_kernels(pwrt_context *ctx, const char *const *names,
                                 size_t count) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_require_kernels"))
      return setError(ctx, error);
    if (!names && count > 0)
      return setError(ctx, invalid("pwrt_require_kernels: names is NULL"));
    // Missing names of this rank, each ended by '\0' (names cannot hold
    // one), exchanged so that every rank fails and can say who misses what.
    std::string missing;
    std::vector<std::string> seen;
    for (size_t i = 0; i < count; ++i) {
      const char *name = names[i] ? names[i] : "";
      if (ctx->kernelIds.count(name) ||
          std::find(seen.begin(), seen.end(), name) != seen.end())
        continue;
      seen.push_back(name);
      missing.append(name);
      missing.push_back('\0');
    }
    std::vector<std::string> all;
    if (Error error = ctx->backend->allGather(missing, all)) {
      printError(ctx, ctx->options.quiet, error.message);
      ctx->fatalPrinted = true;
      return setError(ctx, error);
    }
    std::string report;
    for (size_t rank = 0; rank < all.size(); ++rank) {
      if (all[rank].empty())
        continue;
      std::string list;
      size_t begin = 0;
      while (begin < all[rank].size()) {
        size_t end = all[rank].find('\0', begin);
        list += fmt::format("{}'{}'", list.empty() ? "" : ", ",
                            all[rank].substr(begin, end - begin));
        begin = end + 1;
      }
      report +=
          fmt::format("{}rank {}: {}", report.empty() ? "" : "; ", rank, list);
    }
    if (report.empty())
      return PWRT_OK;
    Error error = makeError(PWRT_ERROR_MISSING_KERNEL,
                            "kernels not registered (checked before the "
                            "first step): {}",
                            report);
    printError(ctx, ctx->options.quiet, error.message);
    return setError(ctx, error);
  });
}

void pwrt_kernel_set_error(const pwrt_kernel_args *args, const char *message) {
  if (!args || !args->runtime_private || !message)
    return;
  try {
    static_cast<KernelCall *>(args->runtime_private)->message = message;
  } catch (...) {
  }
}

//===----------------------------------------------------------------------===//
// Buffers, streams, events
//===----------------------------------------------------------------------===//

pwrt_status pwrt_pool_create(pwrt_context *ctx, size_t bytes,
                             size_t alignment) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_pool_create"))
      return setError(ctx, error);
    if (ctx->poolBase)
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "the context has a pool already"));
    if (bytes == 0)
      return setError(ctx, invalid("pwrt_pool_create: 0 bytes"));
    if (alignment == 0)
      alignment = 4096;
    if ((alignment & (alignment - 1)) != 0)
      return setError(
          ctx, invalid(fmt::format("pwrt_pool_create: alignment {} is not a "
                                   "power of two",
                                   alignment)));
    alignment = std::max<size_t>(alignment, alignof(std::max_align_t));
    if (Error error =
            ctx->backend->allocatePool(bytes, alignment, &ctx->poolBase))
      return setError(ctx, error);
    ctx->poolBytes = bytes;
    return PWRT_OK;
  });
}

pwrt_status pwrt_buffer_at(pwrt_context *ctx, size_t offset, size_t bytes,
                           void **data) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (!data)
      return setError(ctx, invalid("pwrt_buffer_at: data is NULL"));
    if (!ctx->poolBase)
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "pwrt_buffer_at: no pool; call "
                                     "pwrt_pool_create first"));
    if (offset > ctx->poolBytes || bytes > ctx->poolBytes - offset)
      return setError(
          ctx, invalid(fmt::format("slot [{}, {}+{}) is outside the pool of {} "
                                   "bytes",
                                   offset, offset, bytes, ctx->poolBytes)));
    *data = static_cast<char *>(ctx->poolBase) + offset;
    return PWRT_OK;
  });
}

pwrt_status pwrt_stream_create(pwrt_context *ctx, const char *name,
                               pwrt_stream *stream) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_stream_create"))
      return setError(ctx, error);
    if (!stream)
      return setError(ctx, invalid("pwrt_stream_create: stream is NULL"));
    std::string label = name && *name
                            ? std::string(name)
                            : fmt::format("stream {}", ctx->numStreams);
    ctx->openGroups.emplace_back();
    if (Error error = ctx->backend->createStream(label)) {
      ctx->openGroups.pop_back();
      return setError(ctx, error);
    }
    *stream = ctx->numStreams++;
    return PWRT_OK;
  });
}

pwrt_status pwrt_event_create(pwrt_context *ctx, pwrt_event *event) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_event_create"))
      return setError(ctx, error);
    if (!event)
      return setError(ctx, invalid("pwrt_event_create: event is NULL"));
    if (Error error = ctx->backend->createEvent())
      return setError(ctx, error);
    *event = ctx->numEvents++;
    return PWRT_OK;
  });
}

pwrt_status pwrt_launch(pwrt_context *ctx, pwrt_stream stream,
                        pwrt_kernel kernel, const pwrt_kernel_args *args) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_launch"))
      return setError(ctx, error);
    if (kernel < 0 || size_t(kernel) >= ctx->kernels.size())
      return setError(
          ctx, invalid(fmt::format("pwrt_launch: no kernel {} (the context has "
                                   "{})",
                                   kernel, ctx->kernels.size())));
    if (!args)
      return setError(ctx, invalid("pwrt_launch: args is NULL"));
    if ((args->num_inputs && !args->inputs) ||
        (args->num_outputs && !args->outputs) ||
        (args->num_gradients && !args->gradients))
      return setError(ctx, invalid("pwrt_launch: a buffer array is NULL"));
    if (args->layer < -1)
      return setError(ctx, invalid(fmt::format(
                               "pwrt_launch: layer {} (a component's layer is "
                               ">= 0; -1 for a launch that is not one)",
                               args->layer)));
    LaunchOp op;
    op.kernel = kernel;
    op.args = *args; // kind, stage, micro-batches, layer: the caller's group
    op.buffers.reserve(args->num_inputs + args->num_outputs +
                       args->num_gradients);
    op.buffers.insert(op.buffers.end(), args->inputs,
                      args->inputs + args->num_inputs);
    op.buffers.insert(op.buffers.end(), args->outputs,
                      args->outputs + args->num_outputs);
    op.buffers.insert(op.buffers.end(), args->gradients,
                      args->gradients + args->num_gradients);
    if (Error error = ctx->backend->launch(stream, std::move(op)))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

pwrt_status pwrt_event_record(pwrt_context *ctx, pwrt_stream stream,
                              pwrt_event event) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_event_record"))
      return setError(ctx, error);
    if (event < 0 || event >= ctx->numEvents)
      return setError(
          ctx, invalid(fmt::format("pwrt_event_record: no event {}", event)));
    if (Error error = ctx->backend->recordEvent(stream, event))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

pwrt_status pwrt_stream_wait_event(pwrt_context *ctx, pwrt_stream stream,
                                   pwrt_event event) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_stream_wait_event"))
      return setError(ctx, error);
    if (event < 0 || event >= ctx->numEvents)
      return setError(ctx, invalid(fmt::format(
                               "pwrt_stream_wait_event: no event {}", event)));
    if (Error error = ctx->backend->waitEvent(stream, event))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

//===----------------------------------------------------------------------===//
// Point to point
//===----------------------------------------------------------------------===//

pwrt_status pwrt_p2p_group_begin(pwrt_context *ctx, pwrt_stream stream) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_p2p_group_begin"))
      return setError(ctx, error);
    auto &group = ctx->openGroups[size_t(stream)];
    if (group)
      return setError(ctx,
                      makeError(PWRT_ERROR_INVALID_STATE,
                                "stream {} has an open group already", stream));
    group.emplace();
    return PWRT_OK;
  });
}

pwrt_status pwrt_send(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *transfer) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = addTransfer(ctx, stream, transfer, /*isSend=*/true))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

pwrt_status pwrt_recv(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *transfer) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = addTransfer(ctx, stream, transfer, /*isSend=*/false))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

pwrt_status pwrt_p2p_group_end(pwrt_context *ctx, pwrt_stream stream) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_p2p_group_end"))
      return setError(ctx, error);
    auto &group = ctx->openGroups[size_t(stream)];
    if (!group)
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "stream {} has no open group", stream));
    std::vector<Transfer> transfers = std::move(*group);
    group.reset();
    if (transfers.empty())
      return PWRT_OK;
    if (Error error = ctx->backend->submitGroup(stream, std::move(transfers)))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

//===----------------------------------------------------------------------===//
// Groups and all-to-all
//===----------------------------------------------------------------------===//

pwrt_status pwrt_group_create(pwrt_context *ctx, const int32_t *ranks,
                              size_t count, pwrt_group *group) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_group_create"))
      return setError(ctx, error);
    if (!group)
      return setError(ctx, invalid("pwrt_group_create: group is NULL"));
    // A bad argument on one rank must fail every rank (the others are in
    // the collective already): exchange each rank's list or its problem.
    std::vector<int> members;
    std::string mine = describeGroupArgument(
        ctx->backend->rank(), ctx->backend->worldSize(), ranks, count, members);
    std::vector<std::string> all;
    if (Error error = ctx->backend->allGather(mine, all)) {
      printError(ctx, ctx->options.quiet, error.message);
      ctx->fatalPrinted = true;
      return setError(ctx, error);
    }
    if (std::string problem = checkGroupAgreement(all); !problem.empty())
      return setError(ctx, invalid(problem));
    int index = int(ctx->groups.size());
    if (Error error = ctx->backend->createGroup(index, members))
      return setError(ctx, error);
    ctx->groups.push_back(std::move(members));
    *group = index;
    return PWRT_OK;
  });
}

int pwrt_group_size(const pwrt_context *ctx, pwrt_group group) {
  if (!ctx || group < 0 || size_t(group) >= ctx->groups.size())
    return -1;
  return int(ctx->groups[size_t(group)].size());
}

int pwrt_group_rank(const pwrt_context *ctx, pwrt_group group) {
  if (!ctx || group < 0 || size_t(group) >= ctx->groups.size())
    return -1;
  const std::vector<int> &members = ctx->groups[size_t(group)];
  auto found = std::find(members.begin(), members.end(), ctx->backend->rank());
  return int(found - members.begin());
}

pwrt_status pwrt_all_to_all(pwrt_context *ctx, pwrt_stream stream,
                            pwrt_group group,
                            const pwrt_all_to_all_args *args) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkEnqueue(ctx, stream, "pwrt_all_to_all"))
      return setError(ctx, error);
    if (group < 0 || size_t(group) >= ctx->groups.size())
      return setError(ctx, invalid(fmt::format(
                               "pwrt_all_to_all: no group {} (the context has "
                               "{})",
                               group, ctx->groups.size())));
    if (!args)
      return setError(ctx, invalid("pwrt_all_to_all: args is NULL"));
    if (ctx->openGroups[size_t(stream)])
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "pwrt_all_to_all: stream {} has an open "
                                     "p2p group",
                                     stream));
    const std::vector<int> &members = ctx->groups[size_t(group)];
    size_t headerBytes = members.size() * sizeof(int64_t);
    std::string label = args->name ? args->name : "";
    if (args->row_bytes == 0)
      return setError(ctx, invalid(fmt::format(
                               "pwrt_all_to_all '{}': row_bytes is 0", label)));
    for (auto [data, bytes, which] :
         {std::tuple{static_cast<const void *>(args->send), args->send_bytes,
                     "send"},
          std::tuple{static_cast<const void *>(args->recv), args->recv_bytes,
                     "receive"}}) {
      if (!data)
        return setError(ctx, invalid(fmt::format(
                                 "pwrt_all_to_all '{}': the {} buffer is NULL",
                                 label, which)));
      if (bytes < headerBytes)
        return setError(
            ctx, invalid(fmt::format(
                     "pwrt_all_to_all '{}': the {} buffer has {} bytes, less "
                     "than its header of {} row counts ({} bytes)",
                     label, which, bytes, members.size(), headerBytes)));
    }
    auto send = reinterpret_cast<uintptr_t>(args->send);
    auto recv = reinterpret_cast<uintptr_t>(args->recv);
    if (send < recv + args->recv_bytes && recv < send + args->send_bytes)
      return setError(
          ctx, invalid(fmt::format("pwrt_all_to_all '{}': the send and receive "
                                   "buffers overlap",
                                   label)));
    AllToAllOp op;
    op.group = group;
    op.args = *args;
    op.args.name = nullptr;
    op.name = std::move(label);
    op.members = members;
    op.groupRank = pwrt_group_rank(ctx, group);
    if (Error error = ctx->backend->allToAll(stream, std::move(op)))
      return setError(ctx, error);
    return PWRT_OK;
  });
}

//===----------------------------------------------------------------------===//
// Steps
//===----------------------------------------------------------------------===//

pwrt_status pwrt_step_begin(pwrt_context *ctx) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (Error error = checkSetup(ctx, "pwrt_step_begin"))
      return setError(ctx, error);
    if (Error error = ctx->backend->stepBegin(ctx->nextStep))
      return setError(ctx, error);
    ctx->inStep = true;
    ctx->stepBegin = std::chrono::steady_clock::now();
    ++ctx->nextStep;
    return PWRT_OK;
  });
}

pwrt_status pwrt_step_end(pwrt_context *ctx) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (!ctx->inStep)
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "pwrt_step_end without a step"));
    // A group left open is submitted: its transfers are part of the step.
    for (int stream = 0; stream < ctx->numStreams; ++stream) {
      auto &group = ctx->openGroups[size_t(stream)];
      if (group && !group->empty())
        ctx->backend->submitGroup(stream, std::move(*group));
      group.reset();
    }
    Error error = ctx->backend->stepEnd();
    ctx->inStep = false;
    ctx->lastStepSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                      ctx->stepBegin)
            .count();
    if (!error)
      return PWRT_OK;
    if (!error.fatal || !ctx->fatal) {
      error.message =
          fmt::format("step {} failed: {}", ctx->nextStep - 1, error.message);
      printError(ctx, ctx->options.quiet, error.message);
      ctx->fatalPrinted = error.fatal;
    }
    return setError(ctx, error);
  });
}

pwrt_status pwrt_step_fail(pwrt_context *ctx, pwrt_status status,
                           const char *message) {
  if (!ctx)
    return PWRT_ERROR_INVALID_ARGUMENT;
  return guarded(ctx, [&] {
    if (ctx->fatal)
      return setError(ctx, ctx->fatal);
    if (!ctx->inStep)
      return setError(ctx, makeError(PWRT_ERROR_INVALID_STATE,
                                     "pwrt_step_fail outside a step"));
    ctx->backend->failStep(status == PWRT_OK ? PWRT_ERROR_KERNEL_FAILED
                                             : status,
                           message && *message ? message : "step failed");
    return PWRT_OK;
  });
}

pwrt_status pwrt_step_seconds(const pwrt_context *ctx, double *seconds) {
  if (!ctx || !seconds)
    return PWRT_ERROR_INVALID_ARGUMENT;
  if (ctx->lastStepSeconds < 0)
    return PWRT_ERROR_INVALID_STATE;
  *seconds = ctx->lastStepSeconds;
  return PWRT_OK;
}

} // extern "C"
