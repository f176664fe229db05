//===- CudaBackend.cpp - CUDA streams and events, NCCL transfers ----------===//
//
// Every runtime stream is a CUDA stream (cudaStreamNonBlocking), every
// runtime event a cudaEvent_t. Enqueueing is done by the host thread that
// calls the runtime, at once: a kernel is a host function called inside
// pwrt_launch with native_stream set, which enqueues device work and
// returns; a record or a wait is cudaEventRecord or cudaStreamWaitEvent; a
// p2p group is ncclSend/ncclRecv inside ncclGroupStart/ncclGroupEnd on the
// group's stream (or, for ranks of one process that share a GPU, copies of
// the local transport, LocalTransport.h). Nothing runs on threads of the
// runtime's own.
//
// Every kernel and group is followed by a marker event, so pwrt_step_end
// can watch the step move (ProgressWatch.h): it polls the marker at the
// head of each stream, NCCL's asynchronous errors and the peers' fatal
// announcements, and after the timeout without progress names the op that
// holds the step up. Failures follow the host backend: a kernel that fails
// makes this rank skip its later kernels while still running its transfers,
// and the ranks agree on the outcome at the end of the step (StepReport.h);
// a lost peer, a stuck kernel or a CUDA or NCCL error is fatal: the rank
// aborts its NCCL communicator (so that its GPU work ends), tells the
// others, which do the same, and the context keeps the error. NCCL
// communicators are nonblocking, so that every wait inside NCCL (connecting
// to a peer, say) can time out too.
//
// With tracing on, markers carry timestamps and kernels and groups also
// get an event before them; at the end of each step the backend turns them
// into trace slices.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "ControlPlane.h"
#include "CudaCheck.h"
#include "LocalTransport.h"
#include "Placement.h"
#include "ProgressWatch.h"
#include "Selection.h"
#include "StepReport.h"
#include "Trace.h"
#include "TraceStats.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sched.h>
#include <thread>
#include <unistd.h>

namespace pwrt {
namespace {

int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Polling without taking a core from the ranks that share the machine:
/// spin briefly, then yield, then sleep in short steps.
void pauseAfter(int64_t idleNs) {
  if (idleNs < 50'000)
    return;
  if (idleNs < 2'000'000) {
    sched_yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(20));
}

enum Mode : int {
  kRunning = 0,  // run everything
  kDraining = 1, // the step failed here: skip kernels, run transfers
  kAborting = 2, // fatal: skip everything
};

/// An enqueued op, for the watchdog's messages and the trace. Indices
/// match the ProgressWatch's ops of the same stream.
struct OpInfo {
  enum class Kind : uint8_t { Kernel, Group, Wait, AllToAll };
  Kind kind = Kind::Kernel;
  cudaEvent_t begin = nullptr; // tracing only
  cudaEvent_t end = nullptr;   // kernel, group: the marker
  int32_t kernel = -1;
  int32_t stage = -1;
  int32_t microbatch = -1;
  int32_t layer = -1; // a component's layer, -1: none
  pwrt_action_kind action = PWRT_ACTION_OTHER;
  uint32_t firstTransfer = 0; // group: its transfers in Stream::transfers;
                              // all-to-all: its entry in Stream::allToAlls
  uint32_t numTransfers = 0;
};

/// An all-to-all of this step, for the watchdog's messages.
struct AllToAllInfo {
  std::string what;       // "all-to-all 'dispatch' (forward) at stage 1, ..."
  std::vector<int> peers; // the other members, as ranks of the context
};

/// Per stream, made at its first all-to-all and reused: pinned host memory
/// the counts pass through, and device staging for the counts exchange.
/// Reuse is safe because each all-to-all waits on its stream for its
/// counts before the next one on the stream can write them.
struct AllToAllScratch {
  int64_t *host = nullptr;      // send header [N], out [2N], in [2N], recv [N]
  int64_t *device = nullptr;    // out [2N], in [2N]
  size_t capacity = 0;          // N: the largest group (the world size)
  std::vector<void *> overflow; // device; the last is the largest
  size_t overflowBytes = 0;
};

struct Stream {
  int index = 0;
  std::string name;
  cudaStream_t stream = nullptr;
  std::vector<OpInfo> ops;            // this step
  std::vector<Transfer> transfers;    // of this step's groups
  std::vector<cudaEvent_t> eventPool; // markers, reused every step
  size_t eventsUsed = 0;
  std::vector<AllToAllInfo> allToAlls; // this step's
  AllToAllScratch scratch;
  std::vector<Slice> slices; // the trace, every step
};

struct UserEvent {
  cudaEvent_t event = nullptr;
  int stream = -1; // recorded this step on `stream`, after op `op`
  int op = -1;
};

std::string describeTransfer(const Transfer &transfer) {
  const pwrt_transfer &m = transfer.message;
  return fmt::format("{} {} stage {} mb {} {} rank {} ({} bytes, tag {})",
                     transfer.isSend ? "send" : "recv", payloadName(m.payload),
                     m.stage, m.microbatch, transfer.isSend ? "to" : "from",
                     m.peer, m.bytes, m.tag);
}

std::string describeGroup(const Transfer *transfers, size_t count) {
  std::string text;
  for (size_t i = 0; i < count && i < 3; ++i)
    text += (i ? ", " : "") + describeTransfer(transfers[i]);
  if (count > 3)
    text += fmt::format(" and {} more", count - 3);
  return text;
}

std::string describeKernel(const std::string &name, int stage, int microbatch,
                           int layer, pwrt_action_kind action) {
  return fmt::format("kernel '{}' at stage {}, micro-batch {}{} ({})", name,
                     stage, microbatch, layerText(layer),
                     actionKindName(action));
}

/// "22, 18": one count per group rank, for messages.
std::string formatAllToAllCounts(const std::vector<int64_t> &counts) {
  std::string text;
  for (size_t i = 0; i < counts.size(); ++i)
    text += fmt::format("{}{}", i ? ", " : "", counts[i]);
  return text;
}

/// Whether `rows` rows fit after the header, without overflow.
bool allToAllRowsFit(size_t capacity, size_t headerBytes, int64_t rows,
                     size_t rowBytes) {
  return capacity >= headerBytes &&
         uint64_t(rows) <= (capacity - headerBytes) / rowBytes;
}

std::string hostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0)
    return "this host";
  return name;
}

/// The message for a machine without a usable GPU, or null if it has one.
std::optional<std::string> deviceCountProblem(cudaError_t rc, int count) {
  if (rc != cudaSuccess)
    return fmt::format(
        "the CUDA backend found no usable GPU: cudaGetDeviceCount failed "
        "with {} ({})",
        cudaGetErrorName(rc), cudaGetErrorString(rc));
  if (count == 0)
    return std::string("the CUDA backend found no GPU (cudaGetDeviceCount "
                       "says 0; check CUDA_VISIBLE_DEVICES)");
  return std::nullopt;
}

class CudaBackend final : public Backend {
public:
  struct Setup {
    int rank = 0;
    int size = 1;
    int device = 0;
    std::unique_ptr<ControlPlane> control;
    ncclComm_t comm = nullptr;              // NCCL transport
    std::shared_ptr<LocalGroup> localGroup; // local transport
    std::string transportNote;
  };

  CudaBackend(const ResolvedOptions &options, const KernelTable &kernels,
              Setup setup)
      : options(options), kernels(kernels),
        timeoutNs(int64_t(options.timeoutSeconds * 1e9)),
        tracing(!options.tracePath.empty()), myRank(setup.rank),
        numRanks(setup.size), deviceOrdinal(setup.device),
        control(std::move(setup.control)), comm(setup.comm),
        transportNote(std::move(setup.transportNote)) {
    if (setup.localGroup)
      local = std::make_unique<LocalTransport>(setup.localGroup, myRank,
                                               options.timeoutSeconds);
  }
  ~CudaBackend() override {
    if (!shutDown)
      shutdown();
  }

  /// Creates the time origin of the trace; `originNs` is the host time
  /// that every rank shares (taken right after a barrier).
  Error start(int64_t originNs);

  int rank() const override { return myRank; }
  int worldSize() const override { return numRanks; }
  int maxTag() const override { return (1 << 30) - 1; }
  bool allowsSelfTransfers() const override { return true; }
  int device() const override { return deviceOrdinal; }

  Error allocatePool(size_t bytes, size_t alignment, void **base) override;
  void freePool(void *base) override;
  Error createStream(const std::string &name) override;
  Error createEvent() override;
  Error allGather(const std::string &mine,
                  std::vector<std::string> &all) override;

  Error stepBegin(uint64_t step) override;
  Error launch(int stream, LaunchOp &&op) override;
  Error recordEvent(int stream, int event) override;
  Error waitEvent(int stream, int event) override;
  Error submitGroup(int stream, std::vector<Transfer> &&group) override;
  Error createGroup(int group, const std::vector<int> &members) override;
  Error allToAll(int stream, AllToAllOp &&op) override;
  Error stepEnd() override;
  void failStep(pwrt_status status, const std::string &message) override;
  void abandonStep(const std::string &why) override;
  Error shutdown() override;
  bool hasStuckThreads() const override { return deviceStuck; }

private:
  CallSite site(const std::string &doing, const Stream *stream = nullptr) {
    return CallSite{myRank, doing, stream ? stream->name : std::string()};
  }
  cudaEvent_t nextMarker(Stream &stream, Error &error);
  cudaEvent_t nextTransportEvent(Error &error);

  void enqueueNcclGroup(Stream &stream, const Transfer *transfers,
                        size_t count);
  void enqueueLocalGroup(Stream &stream, const Transfer *transfers,
                         size_t count);
  Error waitForComm(const char *call, const CallSite &where,
                    const std::vector<int> &peers);
  /// `label` names the all-to-all the transfers belong to, in messages.
  void enqueueTransfers(Stream &stream, const std::vector<Transfer> &group,
                        const std::string &label) {
    allToAllLabel = &label;
    if (comm)
      enqueueNcclGroup(stream, group.data(), group.size());
    else
      enqueueLocalGroup(stream, group.data(), group.size());
    allToAllLabel = nullptr;
  }
  /// "the all-to-all ...: " while enqueueTransfers runs, else "".
  std::string labelPrefix() const {
    return allToAllLabel ? "the " + *allToAllLabel + ": " : std::string();
  }
  const std::string *allToAllLabel = nullptr;
  Error ensureAllToAllScratch(Stream &stream);
  Error waitOnStreamForHost(Stream &stream, const std::vector<int> &peers,
                            const std::string &what);

  void waitForStreams();
  std::string describeOp(int stream, int op) const;
  void collectSlices();
  Error writeTrace();
  void destroyCudaObjects();

  // Failures.
  void failLocal(pwrt_status status, std::string message);
  void failFatal(const Error &error, int lostRank = -1);
  void adoptFatal(const FatalReport &report);
  void abortComm();
  Error fatalError() const { return fatal ? fatal->toError() : Error::ok(); }

  const ResolvedOptions options;
  const KernelTable &kernels;
  const int64_t timeoutNs;
  const bool tracing;
  const int myRank;
  const int numRanks;
  const int deviceOrdinal;
  std::unique_ptr<ControlPlane> control;
  ncclComm_t comm = nullptr;
  std::unique_ptr<LocalTransport> local;
  std::string transportNote;

  std::vector<std::unique_ptr<Stream>> streams;
  std::vector<UserEvent> events;
  std::vector<cudaEvent_t> transportEvents; // local transport, per step
  size_t transportEventsUsed = 0;
  std::map<void *, void *> allocations; // aligned pool base -> cudaMalloc

  ProgressWatch watch;
  cudaStream_t originStream = nullptr; // idle: records complete at once
  cudaEvent_t stepOrigin = nullptr;
  int64_t originNs = 0;    // host time of the trace's zero
  int64_t stepBeginNs = 0; // host time of stepOrigin's record
  std::vector<Slice> stepSlices;

  int mode = kRunning;
  uint64_t currentStep = 0;
  bool failed = false; // a non-fatal failure of this rank in this step
  pwrt_status failedStatus = PWRT_OK;
  int64_t failedWallNs = 0;
  std::string failedMessage;
  std::optional<FatalReport> fatal;
  std::vector<MessageSequence> sent, received; // by peer, this step
  std::vector<uint64_t> allToAllsEnqueued;     // by group, ever

  bool started = false;
  bool shutDown = false;
  bool deviceStuck = false;
};

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

Error CudaBackend::start(int64_t sharedOriginNs) {
  PWRT_CUDA_CHECK(cudaSetDevice(deviceOrdinal), site("starting the context"));
  PWRT_CUDA_CHECK(
      cudaStreamCreateWithFlags(&originStream, cudaStreamNonBlocking),
      site("creating the context's time-origin stream"));
  PWRT_CUDA_CHECK(cudaEventCreate(&stepOrigin),
                  site("creating the context's time-origin event"));
  originNs = sharedOriginNs;
  sent.resize(size_t(numRanks));
  received.resize(size_t(numRanks));
  started = true;
  return Error::ok();
}

Error CudaBackend::allocatePool(size_t bytes, size_t alignment, void **base) {
  std::string doing = fmt::format("creating the pool of {} bytes", bytes);
  PWRT_CUDA_CHECK(cudaSetDevice(deviceOrdinal), site(doing));
  // cudaMalloc aligns to 256 bytes; ask for more to honour `alignment`.
  size_t total = bytes + (alignment > 256 ? alignment : 0);
  void *raw = nullptr;
  PWRT_CUDA_CHECK(cudaMalloc(&raw, total), site(doing));
  uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + alignment - 1) /
                      alignment * alignment;
  // Zero-filled before any stream can touch it; on a stream of our own,
  // so that other ranks on the device are not waited for.
  cudaError_t rc = cudaMemsetAsync(raw, 0, total, originStream);
  if (rc == cudaSuccess)
    rc = cudaStreamSynchronize(originStream);
  if (rc != cudaSuccess) {
    cudaFree(raw);
    return cudaCallFailed("cudaMemset(pool)", rc, site(doing));
  }
  *base = reinterpret_cast<void *>(aligned);
  allocations[*base] = raw;
  return Error::ok();
}

void CudaBackend::freePool(void *base) {
  auto found = allocations.find(base);
  if (found == allocations.end())
    return;
  cudaSetDevice(deviceOrdinal);
  cudaFree(found->second);
  allocations.erase(found);
}

Error CudaBackend::createStream(const std::string &name) {
  auto stream = std::make_unique<Stream>();
  stream->index = int(streams.size());
  stream->name = name;
  std::string doing = fmt::format("creating stream '{}'", name);
  PWRT_CUDA_CHECK(cudaSetDevice(deviceOrdinal), site(doing));
  PWRT_CUDA_CHECK(
      cudaStreamCreateWithFlags(&stream->stream, cudaStreamNonBlocking),
      site(doing));
  streams.push_back(std::move(stream));
  return Error::ok();
}

Error CudaBackend::createEvent() {
  UserEvent event;
  std::string doing = fmt::format("creating event {}", events.size());
  PWRT_CUDA_CHECK(cudaSetDevice(deviceOrdinal), site(doing));
  PWRT_CUDA_CHECK(
      cudaEventCreateWithFlags(&event.event, cudaEventDisableTiming),
      site(doing));
  events.push_back(event);
  return Error::ok();
}

Error CudaBackend::allGather(const std::string &mine,
                             std::vector<std::string> &all) {
  if (fatal)
    return fatalError();
  if (std::optional<FatalReport> report =
          control->allGather(mine, all, "an all-gather")) {
    adoptFatal(*report);
    return fatalError();
  }
  return Error::ok();
}

cudaEvent_t CudaBackend::nextMarker(Stream &stream, Error &error) {
  if (stream.eventsUsed == stream.eventPool.size()) {
    cudaEvent_t event = nullptr;
    cudaError_t rc = cudaEventCreateWithFlags(
        &event, tracing ? cudaEventDefault : cudaEventDisableTiming);
    if (rc != cudaSuccess) {
      error = cudaCallFailed("cudaEventCreateWithFlags(marker)", rc,
                             site("creating a marker event", &stream));
      return nullptr;
    }
    stream.eventPool.push_back(event);
  }
  return stream.eventPool[stream.eventsUsed++];
}

cudaEvent_t CudaBackend::nextTransportEvent(Error &error) {
  if (transportEventsUsed == transportEvents.size()) {
    cudaEvent_t event = nullptr;
    cudaError_t rc = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
    if (rc != cudaSuccess) {
      error = cudaCallFailed("cudaEventCreateWithFlags(transport)", rc,
                             site("creating an event for a local copy"));
      return nullptr;
    }
    transportEvents.push_back(event);
  }
  return transportEvents[transportEventsUsed++];
}

//===----------------------------------------------------------------------===//
// Enqueueing (the host thread)
//===----------------------------------------------------------------------===//

Error CudaBackend::stepBegin(uint64_t step) {
  if (std::optional<FatalReport> report = control->pollFatal())
    adoptFatal(*report);
  if (fatal)
    return fatalError();
  PWRT_CUDA_CHECK(cudaSetDevice(deviceOrdinal),
                  site(fmt::format("beginning step {}", step)));
  currentStep = step;
  mode = kRunning;
  failed = false;
  failedMessage.clear();
  watch.reset(streams.size());
  for (auto &stream : streams) {
    stream->ops.clear();
    stream->transfers.clear();
    stream->allToAlls.clear();
    stream->eventsUsed = 0;
  }
  for (UserEvent &event : events)
    event.stream = event.op = -1;
  transportEventsUsed = 0;
  std::fill(sent.begin(), sent.end(), MessageSequence());
  std::fill(received.begin(), received.end(), MessageSequence());
  stepBeginNs = monotonicNs();
  if (tracing) {
    cudaError_t rc = cudaEventRecord(stepOrigin, originStream);
    if (rc != cudaSuccess)
      failFatal(cudaCallFailed("cudaEventRecord(step origin)", rc,
                               site("beginning a traced step")));
  }
  return Error::ok();
}

Error CudaBackend::launch(int streamIndex, LaunchOp &&op) {
  if (mode != kRunning)
    return Error::ok(); // skipped after a failure, as on the host
  Stream &stream = *streams[size_t(streamIndex)];
  const KernelEntry &kernel = kernels[size_t(op.kernel)];
  pwrt_kernel_args args = op.args;
  const pwrt_buffer *buffers = op.buffers.data();
  args.inputs = buffers;
  args.outputs = buffers + args.num_inputs;
  args.gradients = buffers + args.num_inputs + args.num_outputs;
  args.kernel_name = kernel.name.c_str();
  args.user_data = kernel.userData;
  args.native_stream = stream.stream;
  args.stream = stream.index;
  args.rank = myRank;
  args.step = currentStep;
  KernelCall call;
  args.runtime_private = &call;

  // Messages are built only on failure: this is the per-launch path.
  auto where = [&] {
    return site(describeKernel(kernel.name, args.stage, args.microbatch,
                               args.layer, args.kind),
                &stream);
  };
  OpInfo info;
  info.kind = OpInfo::Kind::Kernel;
  info.kernel = op.kernel;
  info.stage = args.stage;
  info.microbatch = args.microbatch;
  info.layer = args.layer;
  info.action = args.kind;
  Error error;
  // The kernel may have switched devices; its stream belongs to ours.
  cudaError_t rc = cudaSetDevice(deviceOrdinal);
  if (rc != cudaSuccess) {
    failFatal(cudaCallFailed("cudaSetDevice", rc, where()));
    return Error::ok();
  }
  if (tracing) {
    info.begin = nextMarker(stream, error);
    if (!error && (rc = cudaEventRecord(info.begin, stream.stream)))
      error = cudaCallFailed("cudaEventRecord(before the kernel)", rc, where());
    if (error) {
      failFatal(error);
      return Error::ok();
    }
  }

  pwrt_status status;
  try {
    status = kernel.fn(&args);
  } catch (...) {
    status = PWRT_ERROR_KERNEL_FAILED;
    call.message = "the kernel threw a C++ exception";
  }
  // A launch the kernel made with a bad configuration shows up here.
  cudaError_t launchError = cudaGetLastError();

  info.end = nextMarker(stream, error);
  if (!error && (rc = cudaEventRecord(info.end, stream.stream)))
    error = cudaCallFailed("cudaEventRecord(after the kernel)", rc, where());
  if (error) {
    failFatal(error);
    return Error::ok();
  }
  stream.ops.push_back(info);
  watch.add(streamIndex, WatchedOp{});

  if (status == PWRT_OK && launchError == cudaSuccess)
    return Error::ok();
  std::string failure = fmt::format(
      "rank {}: kernel '{}' failed at stage {}, micro-batch {}{} ({}) on "
      "stream '{}': ",
      myRank, kernel.name, args.stage, args.microbatch, layerText(args.layer),
      actionKindName(args.kind), stream.name);
  if (status != PWRT_OK) {
    failure += statusString(status);
    if (!call.message.empty())
      failure += ": " + call.message;
    failLocal(PWRT_ERROR_KERNEL_FAILED, std::move(failure));
  } else {
    failure += fmt::format("cudaGetLastError after the kernel returned {} ({})",
                           cudaGetErrorName(launchError),
                           cudaGetErrorString(launchError));
    if (isStickyCudaError(launchError))
      failFatal(Error(PWRT_ERROR_DEVICE, failure, /*fatal=*/true));
    else
      failLocal(PWRT_ERROR_KERNEL_FAILED, std::move(failure));
  }
  return Error::ok();
}

Error CudaBackend::recordEvent(int streamIndex, int eventIndex) {
  if (mode == kAborting)
    return Error::ok();
  Stream &stream = *streams[size_t(streamIndex)];
  UserEvent &event = events[size_t(eventIndex)];
  cudaError_t rc = cudaEventRecord(event.event, stream.stream);
  if (rc != cudaSuccess) {
    failFatal(cudaCallFailed(
        "cudaEventRecord", rc,
        site(fmt::format("recording event {}", eventIndex), &stream)));
    return Error::ok();
  }
  event.stream = streamIndex;
  event.op = watch.last(streamIndex);
  return Error::ok();
}

Error CudaBackend::waitEvent(int streamIndex, int eventIndex) {
  if (mode == kAborting)
    return Error::ok();
  Stream &stream = *streams[size_t(streamIndex)];
  const UserEvent &event = events[size_t(eventIndex)];
  cudaError_t rc = cudaStreamWaitEvent(stream.stream, event.event, 0);
  if (rc != cudaSuccess) {
    failFatal(cudaCallFailed(
        "cudaStreamWaitEvent", rc,
        site(fmt::format("waiting for event {}", eventIndex), &stream)));
    return Error::ok();
  }
  OpInfo info;
  info.kind = OpInfo::Kind::Wait;
  stream.ops.push_back(info);
  WatchedOp watched;
  watched.isWait = true;
  watched.waitStream = event.stream;
  watched.waitOp = event.op;
  watch.add(streamIndex, watched);
  return Error::ok();
}

Error CudaBackend::submitGroup(int streamIndex, std::vector<Transfer> &&group) {
  if (mode == kAborting || group.empty())
    return Error::ok();
  Stream &stream = *streams[size_t(streamIndex)];
  for (const Transfer &transfer : group) {
    const pwrt_transfer &m = transfer.message;
    (transfer.isSend ? sent : received)[size_t(m.peer)].add(m.tag, m.bytes);
  }
  OpInfo info;
  info.kind = OpInfo::Kind::Group;
  info.firstTransfer = uint32_t(stream.transfers.size());
  info.numTransfers = uint32_t(group.size());
  stream.transfers.insert(stream.transfers.end(), group.begin(), group.end());
  const Transfer *transfers = stream.transfers.data() + info.firstTransfer;
  auto where = [&] {
    return site("running " + describeGroup(transfers, group.size()), &stream);
  };

  Error error;
  if (tracing) {
    info.begin = nextMarker(stream, error);
    cudaError_t rc;
    if (!error && (rc = cudaEventRecord(info.begin, stream.stream)))
      error = cudaCallFailed("cudaEventRecord(before the group)", rc, where());
    if (error) {
      failFatal(error);
      return Error::ok();
    }
  }
  if (comm)
    enqueueNcclGroup(stream, transfers, group.size());
  else
    enqueueLocalGroup(stream, transfers, group.size());
  if (mode == kAborting)
    return Error::ok();
  info.end = nextMarker(stream, error);
  cudaError_t rc;
  if (!error && (rc = cudaEventRecord(info.end, stream.stream)))
    error = cudaCallFailed("cudaEventRecord(after the group)", rc, where());
  if (error) {
    failFatal(error);
    return Error::ok();
  }
  stream.ops.push_back(info);
  watch.add(streamIndex, WatchedOp{});
  return Error::ok();
}

// One NCCL group per runtime group: every send and receive of the group is
// posted at once, so a group may send to and receive from the same peer.
// A later all-to-all is the same call with one send and one receive per
// peer.
void CudaBackend::enqueueNcclGroup(Stream &stream, const Transfer *transfers,
                                   size_t count) {
  auto where = [&] {
    return site("running " + labelPrefix() + describeGroup(transfers, count),
                &stream);
  };
  ncclResult_t rc = ncclGroupStart();
  if (rc != ncclSuccess)
    return failFatal(ncclCallFailed("ncclGroupStart()", rc, comm, where()));
  for (size_t i = 0; i < count; ++i) {
    const pwrt_transfer &m = transfers[i].message;
    rc =
        transfers[i].isSend
            ? ncclSend(m.data, m.bytes, ncclUint8, m.peer, comm, stream.stream)
            : ncclRecv(m.data, m.bytes, ncclUint8, m.peer, comm, stream.stream);
    if (rc != ncclSuccess && rc != ncclInProgress) {
      Error error = ncclCallFailed(
          transfers[i].isSend ? "ncclSend" : "ncclRecv", rc, comm,
          site("running " + labelPrefix() + describeTransfer(transfers[i]),
               &stream));
      ncclGroupEnd();
      return failFatal(error);
    }
  }
  rc = ncclGroupEnd();
  if (rc == ncclInProgress) {
    // Nonblocking communicator: the group is enqueued once NCCL says so
    // (it may first connect to a peer, which needs the peer).
    std::vector<int> peers;
    for (size_t i = 0; i < count; ++i)
      if (std::find(peers.begin(), peers.end(), transfers[i].message.peer) ==
          peers.end())
        peers.push_back(transfers[i].message.peer);
    if (Error error = waitForComm("ncclGroupEnd", where(), peers))
      failFatal(error, error.code == PWRT_ERROR_PEER_LOST ? peers.front() : -1);
    return;
  }
  if (rc != ncclSuccess)
    failFatal(ncclCallFailed("ncclGroupEnd()", rc, comm, where()));
}

Error CudaBackend::waitForComm(const char *call, const CallSite &where,
                               const std::vector<int> &peers) {
  int64_t startNs = monotonicNs();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess)
      return ncclCallFailed("ncclCommGetAsyncError", rc, comm, where);
    if (state == ncclSuccess)
      return Error::ok();
    if (state != ncclInProgress)
      return ncclCallFailed(call, state, comm, where);
    if (std::optional<FatalReport> report = control->pollFatal())
      return report->toError();
    int64_t idleNs = monotonicNs() - startNs;
    if (idleNs > timeoutNs)
      return Error(PWRT_ERROR_PEER_LOST,
                   fmt::format("rank {}: no progress for {:.1f} s while "
                               "waiting on {}, presumed lost: NCCL did not "
                               "finish {} ({}{})",
                               myRank, options.timeoutSeconds, rankList(peers),
                               call, where.doing,
                               where.stream.empty()
                                   ? ""
                                   : " on stream '" + where.stream + "'"),
                   /*fatal=*/true);
    pauseAfter(idleNs);
  }
}

void CudaBackend::enqueueLocalGroup(Stream &stream, const Transfer *transfers,
                                    size_t count) {
  Error error;
  // Sends first: every rank posts before it waits, so a group may send to
  // and receive from the same peer.
  std::vector<std::shared_ptr<PostedSend>> sends;
  cudaEvent_t ready = nullptr;
  for (size_t i = 0; i < count; ++i) {
    if (!transfers[i].isSend)
      continue;
    if (!ready) {
      ready = nextTransportEvent(error);
      cudaError_t rc;
      if (!error && (rc = cudaEventRecord(ready, stream.stream)))
        error = cudaCallFailed(
            "cudaEventRecord(data ready)", rc,
            site("running " + describeTransfer(transfers[i]), &stream));
      if (error)
        return failFatal(error);
    }
    const pwrt_transfer &m = transfers[i].message;
    auto send = std::make_shared<PostedSend>();
    send->from = myRank;
    send->to = m.peer;
    send->tag = m.tag;
    send->bytes = m.bytes;
    send->data = m.data;
    send->device = deviceOrdinal;
    send->ready = ready;
    send->what = fmt::format("{}{} on stream '{}'", labelPrefix(),
                             describeTransfer(transfers[i]), stream.name);
    sends.push_back(std::move(send));
  }
  local->post(sends);

  for (size_t i = 0; i < count; ++i) {
    if (transfers[i].isSend)
      continue;
    const pwrt_transfer &m = transfers[i].message;
    std::string what = fmt::format("{}{} on stream '{}'", labelPrefix(),
                                   describeTransfer(transfers[i]), stream.name);
    SendOrFatal got = local->awaitSend(m.peer, m.tag, what);
    if (auto *report = std::get_if<FatalReport>(&got))
      return adoptFatal(*report);
    std::shared_ptr<PostedSend> send =
        std::get<std::shared_ptr<PostedSend>>(got);
    if (send->bytes != m.bytes) {
      local->markTaken(send, nullptr);
      failLocal(PWRT_ERROR_DEVICE,
                fmt::format("rank {}: {} got a message of {} bytes: the "
                            "sender sent a message of another size",
                            myRank, what, send->bytes));
      continue;
    }
    CallSite where = site("running " + describeTransfer(transfers[i]), &stream);
    cudaError_t rc = cudaStreamWaitEvent(
        stream.stream, static_cast<cudaEvent_t>(send->ready), 0);
    if (rc == cudaSuccess && m.bytes > 0)
      rc = cudaMemcpyPeerAsync(m.data, deviceOrdinal, send->data, send->device,
                               m.bytes, stream.stream);
    cudaEvent_t copied = nullptr;
    if (rc == cudaSuccess) {
      copied = nextTransportEvent(error);
      if (!error)
        rc = cudaEventRecord(copied, stream.stream);
    }
    if (rc != cudaSuccess || error) {
      // The sender must not wait for a copy that will never be made.
      local->markTaken(send, nullptr);
      return failFatal(
          error ? error : cudaCallFailed("cudaMemcpyPeerAsync", rc, where));
    }
    local->markTaken(send, copied);
  }

  if (std::optional<FatalReport> report = local->awaitTaken(sends))
    return adoptFatal(*report);
  for (const auto &send : sends) {
    if (!send->copied)
      continue;
    cudaError_t rc = cudaStreamWaitEvent(
        stream.stream, static_cast<cudaEvent_t>(send->copied), 0);
    if (rc != cudaSuccess)
      return failFatal(
          cudaCallFailed("cudaStreamWaitEvent(copy done)", rc,
                         site("waiting for the copy of " + send->what)));
  }
}

//===----------------------------------------------------------------------===//
// Process groups and all-to-all
//===----------------------------------------------------------------------===//

// A group needs no communicator of its own: every member is in the
// context's (world) communicator, so an all-to-all addresses its peers by
// their ranks of the context there, like a p2p group. Its messages then
// share NCCL's per-pair order with the p2p groups', which the ranks already
// keep (the same schedule enqueues both); a split communicator per group
// (ncclCommSplit) would make them independent, at the price of one more
// communicator to create, watch and abort per group.
Error CudaBackend::createGroup(int group, const std::vector<int> &members) {
  (void)members;
  if (fatal)
    return fatalError();
  if (group != int(allToAllsEnqueued.size()))
    return makeError(PWRT_ERROR_INTERNAL, "group {} created as number {}",
                     group, allToAllsEnqueued.size());
  allToAllsEnqueued.push_back(0);
  // The buffers of the streams there are now, outside any step (an
  // allocation may wait for the device); later streams get theirs at
  // their first all-to-all.
  for (auto &stream : streams)
    if (Error error = ensureAllToAllScratch(*stream))
      return error;
  return Error::ok();
}

Error CudaBackend::ensureAllToAllScratch(Stream &stream) {
  AllToAllScratch &scratch = stream.scratch;
  if (scratch.host)
    return Error::ok();
  size_t n = size_t(numRanks);
  CallSite where = site("making the all-to-all buffers", &stream);
  void *host = nullptr, *device = nullptr;
  PWRT_CUDA_CHECK(cudaMallocHost(&host, 6 * n * sizeof(int64_t)), where);
  scratch.host = static_cast<int64_t *>(host);
  PWRT_CUDA_CHECK(cudaMalloc(&device, 4 * n * sizeof(int64_t)), where);
  scratch.device = static_cast<int64_t *>(device);
  scratch.capacity = n;
  return Error::ok();
}

// The one host synchronization of the backend inside a step: the host must
// see the row counts to post the rows. It waits for an event recorded on
// the all-to-all's stream only (other streams keep running), with the
// watchdog's timeout, and names `peers` if they never deliver.
Error CudaBackend::waitOnStreamForHost(Stream &stream,
                                       const std::vector<int> &peers,
                                       const std::string &what) {
  Error error;
  cudaEvent_t reached = nextTransportEvent(error);
  if (error)
    return error;
  PWRT_CUDA_CHECK(cudaEventRecord(reached, stream.stream),
                  site("waiting for " + what, &stream));
  int64_t startNs = monotonicNs();
  for (unsigned round = 0;; ++round) {
    cudaError_t rc = cudaEventQuery(reached);
    if (rc == cudaSuccess)
      return Error::ok();
    if (rc != cudaErrorNotReady)
      return cudaCallFailed("cudaEventQuery", rc,
                            site("waiting for " + what, &stream));
    if (round % 16 == 0) {
      if (comm) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t nccl = ncclCommGetAsyncError(comm, &state);
        if (nccl != ncclSuccess ||
            (state != ncclSuccess && state != ncclInProgress))
          return ncclCallFailed("ncclCommGetAsyncError",
                                nccl != ncclSuccess ? nccl : state, comm,
                                site("waiting for " + what, &stream));
      }
      if (std::optional<FatalReport> report = control->pollFatal())
        return report->toError();
    }
    int64_t idleNs = monotonicNs() - startNs;
    if (idleNs > timeoutNs) {
      if (peers.empty()) {
        deviceStuck = true;
        return Error(PWRT_ERROR_TIMEOUT,
                     fmt::format("rank {}: the work before {} on stream '{}' "
                                 "is still running after {:.1f} s",
                                 myRank, what, stream.name,
                                 options.timeoutSeconds),
                     /*fatal=*/true);
      }
      return Error(PWRT_ERROR_PEER_LOST,
                   fmt::format("rank {}: no progress for {:.1f} s while "
                               "waiting on {}, presumed lost: {} on stream "
                               "'{}'",
                               myRank, options.timeoutSeconds, rankList(peers),
                               what, stream.name),
                   /*fatal=*/true);
    }
    pauseAfter(idleNs);
  }
}

// Counts first, then rows, both as groups of ncclSend/ncclRecv (or the
// local transport's copies): (1) the send header is copied to pinned host
// memory and the stream waited for, (2) each peer gets its row count and
// this rank's row size, (3) the host checks what arrives against the
// receive buffer and writes the receive header, (4) one group moves the
// rows; this rank's own rows are a device-to-device copy. Steps (1) and
// (2) each end in a host wait on this stream (waitOnStreamForHost).
Error CudaBackend::allToAll(int streamIndex, AllToAllOp &&op) {
  if (mode == kAborting)
    return Error::ok();
  Stream &stream = *streams[size_t(streamIndex)];
  const pwrt_all_to_all_args &args = op.args;
  const size_t size = op.members.size();
  const size_t me = size_t(op.groupRank);
  const size_t rowBytes = args.row_bytes;
  const size_t headerBytes = size * sizeof(int64_t);
  const uint64_t ticket = allToAllsEnqueued[size_t(op.group)]++;
  // Tags above every p2p tag (maxTag), for the local transport's pairing.
  auto tagOf = [&](int phase) {
    return int32_t((1u << 30) | (uint32_t(op.group & 0xff) << 22) |
                   uint32_t((2 * ticket + uint64_t(phase)) & 0x3fffff));
  };

  AllToAllInfo described;
  described.what = fmt::format(
      "all-to-all{}{} ({}) at stage {}, micro-batch {}{}",
      op.name.empty() ? "" : " '", op.name.empty() ? "" : op.name + "'",
      actionKindName(args.kind), args.stage, args.microbatch,
      layerText(args.layer));
  for (size_t peer = 0; peer < size; ++peer)
    if (peer != me)
      described.peers.push_back(op.members[peer]);
  const std::string what = described.what;
  const std::vector<int> peers = described.peers;
  auto where = [&] { return site("running the " + what, &stream); };
  auto fail = [&](pwrt_status status, const std::string &problem) {
    if (mode == kRunning)
      failLocal(status, fmt::format("rank {}: {} on stream '{}': {}", myRank,
                                    what, stream.name, problem));
  };
  auto fatalCuda = [&](const char *call, cudaError_t rc) {
    failFatal(cudaCallFailed(call, rc, where()));
    return Error::ok();
  };
  auto fatalWait = [&](const Error &error) {
    failFatal(error, error.code == PWRT_ERROR_PEER_LOST && !peers.empty()
                         ? peers.front()
                         : -1);
    return Error::ok();
  };

  if (Error error = ensureAllToAllScratch(stream)) {
    failFatal(error);
    return Error::ok();
  }
  AllToAllScratch &scratch = stream.scratch;
  int64_t *hostSend = scratch.host;
  int64_t *hostOut = hostSend + scratch.capacity;
  int64_t *hostIn = hostOut + 2 * scratch.capacity;
  int64_t *hostRecv = hostIn + 2 * scratch.capacity;
  int64_t *deviceOut = scratch.device;
  int64_t *deviceIn = deviceOut + 2 * scratch.capacity;

  OpInfo info;
  info.kind = OpInfo::Kind::AllToAll;
  info.firstTransfer = uint32_t(stream.allToAlls.size());
  info.stage = args.stage;
  info.microbatch = args.microbatch;
  info.layer = args.layer;
  info.action = args.kind;
  stream.allToAlls.push_back(std::move(described));
  Error error;
  cudaError_t rc;
  if (tracing) {
    info.begin = nextMarker(stream, error);
    if (!error && (rc = cudaEventRecord(info.begin, stream.stream)))
      error =
          cudaCallFailed("cudaEventRecord(before the all-to-all)", rc, where());
    if (error) {
      failFatal(error);
      return Error::ok();
    }
  }

  // (1) What this rank sends. After a failure it sends nothing.
  std::vector<int64_t> sendCounts(size, 0);
  bool waited = false; // for this stream: the pinned buffers are free
  if (mode == kRunning) {
    waited = true;
    if ((rc = cudaMemcpyAsync(hostSend, args.send, headerBytes,
                              cudaMemcpyDeviceToHost, stream.stream)))
      return fatalCuda("cudaMemcpyAsync(send header to host)", rc);
    if (Error wait =
            waitOnStreamForHost(stream, {}, "the send header of the " + what))
      return fatalWait(wait);
    std::memcpy(sendCounts.data(), hostSend, headerBytes);
    int64_t total = 0;
    std::string problem;
    pwrt_status status = PWRT_ERROR_INVALID_ARGUMENT;
    for (size_t peer = 0; peer < size && problem.empty(); ++peer) {
      if (sendCounts[peer] < 0) {
        problem = fmt::format("the send header's row count for group rank {} "
                              "is {}",
                              peer, sendCounts[peer]);
        continue;
      }
      total = std::min<int64_t>(
          total + std::min<int64_t>(sendCounts[peer], INT64_MAX / 2),
          INT64_MAX / 2);
      if (allToAllRowsFit(args.send_bytes, headerBytes, total, rowBytes))
        continue;
      status = PWRT_ERROR_CAPACITY_EXCEEDED;
      uint64_t listed = 0;
      for (int64_t count : sendCounts)
        listed += uint64_t(std::max<int64_t>(count, 0));
      problem = fmt::format(
          "the send header lists {} rows of {} bytes (rows for group ranks "
          "0..{}: {}) but the send buffer holds {} bytes ({} rows after the "
          "{}-byte header)",
          listed, rowBytes, size - 1, formatAllToAllCounts(sendCounts),
          args.send_bytes, (args.send_bytes - headerBytes) / rowBytes,
          headerBytes);
    }
    if (!problem.empty()) {
      fail(status, problem);
      std::fill(sendCounts.begin(), sendCounts.end(), 0);
    }
  }

  // (2) Each peer's count and this rank's row size, through the device.
  std::vector<Transfer> transfers;
  auto transfer = [&](bool isSend, void *data, size_t bytes, size_t peer,
                      int32_t tag) {
    Transfer t;
    t.isSend = isSend;
    t.message = pwrt_transfer{
        data,       bytes,          op.members[peer], tag, PWRT_PAYLOAD_OTHER,
        args.stage, args.microbatch};
    transfers.push_back(t);
  };
  for (size_t peer = 0; peer < size; ++peer) {
    hostOut[2 * peer] = sendCounts[peer];
    hostOut[2 * peer + 1] = int64_t(rowBytes);
    hostIn[2 * peer] = hostIn[2 * peer + 1] = 0;
  }
  std::vector<int64_t> recvCounts(size, 0), peerRowBytes(size, 0);
  recvCounts[me] = sendCounts[me];
  peerRowBytes[me] = int64_t(rowBytes);
  if (size > 1) {
    if ((rc = cudaMemcpyAsync(deviceOut, hostOut, 2 * headerBytes,
                              cudaMemcpyHostToDevice, stream.stream)))
      return fatalCuda("cudaMemcpyAsync(counts to the device)", rc);
    for (size_t peer = 0; peer < size; ++peer) {
      if (peer == me)
        continue;
      transfer(false, deviceIn + 2 * peer, 2 * sizeof(int64_t), peer, tagOf(0));
      transfer(true, deviceOut + 2 * peer, 2 * sizeof(int64_t), peer, tagOf(0));
    }
    enqueueTransfers(stream, transfers, what);
    if (mode == kAborting)
      return Error::ok();
    if ((rc = cudaMemcpyAsync(hostIn, deviceIn, 2 * headerBytes,
                              cudaMemcpyDeviceToHost, stream.stream)))
      return fatalCuda("cudaMemcpyAsync(counts to the host)", rc);
    if (Error wait =
            waitOnStreamForHost(stream, peers, "the row counts of the " + what))
      return fatalWait(wait);
    waited = true;
    for (size_t peer = 0; peer < size; ++peer) {
      if (peer == me)
        continue;
      recvCounts[peer] = hostIn[2 * peer];
      peerRowBytes[peer] = hostIn[2 * peer + 1];
    }
  }

  // (3) What arrives, and where it goes.
  std::string mismatch;
  int64_t total = 0;
  size_t arrivingBytes = 0; // from peers, at their row sizes
  for (size_t peer = 0; peer < size; ++peer) {
    total += recvCounts[peer];
    if (peer != me)
      arrivingBytes += size_t(recvCounts[peer]) * size_t(peerRowBytes[peer]);
    if (recvCounts[peer] > 0 && size_t(peerRowBytes[peer]) != rowBytes &&
        mismatch.empty())
      mismatch =
          fmt::format("group rank {} (rank {}) sends rows of {} "
                      "bytes, this rank's rows have {} bytes",
                      peer, op.members[peer], peerRowBytes[peer], rowBytes);
  }
  bool fits = mismatch.empty() &&
              allToAllRowsFit(args.recv_bytes, headerBytes, total, rowBytes);
  if (!mismatch.empty())
    fail(PWRT_ERROR_INVALID_ARGUMENT, mismatch);
  else if (!fits)
    fail(PWRT_ERROR_CAPACITY_EXCEEDED,
         fmt::format("{} rows of {} bytes arrive (rows from group ranks "
                     "0..{}: {}) but the receive buffer holds {} bytes ({} "
                     "rows after the {}-byte header)",
                     total, rowBytes, size - 1,
                     formatAllToAllCounts(recvCounts), args.recv_bytes,
                     (args.recv_bytes - headerBytes) / rowBytes, headerBytes));
  // A group of one after a failure has not waited yet: the previous
  // all-to-all's copy from hostRecv may still be pending.
  if (!waited)
    if (Error wait = waitOnStreamForHost(stream, {}, "the " + what))
      return fatalWait(wait);
  std::memcpy(hostRecv, recvCounts.data(), headerBytes);
  if ((rc = cudaMemcpyAsync(args.recv, hostRecv, headerBytes,
                            cudaMemcpyHostToDevice, stream.stream)))
    return fatalCuda("cudaMemcpyAsync(receive header)", rc);
  char *target = static_cast<char *>(args.recv) + headerBytes;
  if (!fits && arrivingBytes > 0) {
    // The peers send anyway: take their rows into scratch, kept (not
    // freed: cudaFree would wait for the whole device) until shutdown.
    if (arrivingBytes > scratch.overflowBytes) {
      void *bigger = nullptr;
      if ((rc = cudaMalloc(&bigger, arrivingBytes)))
        return fatalCuda("cudaMalloc(all-to-all overflow)", rc);
      scratch.overflow.push_back(bigger);
      scratch.overflowBytes = arrivingBytes;
    }
    target = static_cast<char *>(scratch.overflow.back());
  }

  // (4) The rows.
  transfers.clear();
  const char *source = static_cast<const char *>(args.send) + headerBytes;
  for (size_t peer = 0; peer < size; ++peer) {
    size_t sendBytes = size_t(sendCounts[peer]) * rowBytes;
    size_t recvBytes = fits ? size_t(recvCounts[peer]) * rowBytes
                            : (peer == me ? 0
                                          : size_t(recvCounts[peer]) *
                                                size_t(peerRowBytes[peer]));
    if (peer == me) {
      if (fits && sendBytes > 0 &&
          (rc = cudaMemcpyAsync(target, source, sendBytes,
                                cudaMemcpyDeviceToDevice, stream.stream)))
        return fatalCuda("cudaMemcpyAsync(own rows)", rc);
    } else {
      if (recvBytes > 0)
        transfer(false, target, recvBytes, peer, tagOf(1));
      if (sendBytes > 0)
        transfer(true, const_cast<char *>(source), sendBytes, peer, tagOf(1));
    }
    source += sendBytes;
    target += recvBytes;
  }
  if (!transfers.empty()) {
    enqueueTransfers(stream, transfers, what);
    if (mode == kAborting)
      return Error::ok();
  }

  info.end = nextMarker(stream, error);
  if (!error && (rc = cudaEventRecord(info.end, stream.stream)))
    error =
        cudaCallFailed("cudaEventRecord(after the all-to-all)", rc, where());
  if (error) {
    failFatal(error);
    return Error::ok();
  }
  stream.ops.push_back(info);
  watch.add(streamIndex, WatchedOp{});
  return Error::ok();
}

//===----------------------------------------------------------------------===//
// The end of a step
//===----------------------------------------------------------------------===//

std::string CudaBackend::describeOp(int streamIndex, int opIndex) const {
  const Stream &stream = *streams[size_t(streamIndex)];
  const OpInfo &op = stream.ops[size_t(opIndex)];
  switch (op.kind) {
  case OpInfo::Kind::Kernel:
    return describeKernel(kernels[size_t(op.kernel)].name, op.stage,
                          op.microbatch, op.layer, op.action);
  case OpInfo::Kind::Group:
    return describeGroup(stream.transfers.data() + op.firstTransfer,
                         op.numTransfers);
  case OpInfo::Kind::Wait:
    return "a wait for an event";
  case OpInfo::Kind::AllToAll:
    return stream.allToAlls[op.firstTransfer].what;
  }
  return "an op";
}

void CudaBackend::waitForStreams() {
  int64_t lastProgressNs = monotonicNs();
  for (unsigned round = 0;; ++round) {
    cudaError_t queryError = cudaSuccess;
    ProgressWatch::Advance advance = watch.advance([&](int s, int op) {
      cudaError_t rc = cudaEventQuery(streams[size_t(s)]->ops[size_t(op)].end);
      if (rc == cudaSuccess)
        return OpState::Done;
      if (rc == cudaErrorNotReady)
        return OpState::Pending;
      queryError = rc;
      return OpState::Failed;
    });
    if (advance.failedStream >= 0) {
      const Stream &stream = *streams[size_t(advance.failedStream)];
      return failFatal(cudaCallFailed(
          "cudaEventQuery", queryError,
          site("running " + describeOp(advance.failedStream, advance.failedOp),
               &stream)));
    }
    if (watch.finished())
      return;
    int64_t nowNs = monotonicNs();
    if (advance.moved)
      lastProgressNs = nowNs;
    // NCCL's own errors (a peer's network failed, ...) and the peers'
    // fatal errors, every few rounds: both take locks.
    if (round % 16 == 0) {
      if (comm) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
        if (rc != ncclSuccess ||
            (state != ncclSuccess && state != ncclInProgress)) {
          auto [s, op] = watch.blocker();
          return failFatal(ncclCallFailed(
              "ncclCommGetAsyncError", rc != ncclSuccess ? rc : state, comm,
              site("running " + describeOp(s, op), streams[size_t(s)].get())));
        }
      }
      if (std::optional<FatalReport> report = control->pollFatal())
        return adoptFatal(*report);
    }
    if (nowNs - lastProgressNs > timeoutNs) {
      auto [s, op] = watch.blocker();
      const Stream &stream = *streams[size_t(s)];
      const OpInfo &info = stream.ops[size_t(op)];
      bool isAllToAll = info.kind == OpInfo::Kind::AllToAll &&
                        !stream.allToAlls[info.firstTransfer].peers.empty();
      if (info.kind == OpInfo::Kind::Group || isAllToAll) {
        const Transfer *transfers =
            stream.transfers.data() + info.firstTransfer;
        std::vector<int> peers;
        if (isAllToAll)
          peers = stream.allToAlls[info.firstTransfer].peers;
        for (uint32_t t = 0; t < info.numTransfers; ++t)
          if (std::find(peers.begin(), peers.end(),
                        transfers[t].message.peer) == peers.end())
            peers.push_back(transfers[t].message.peer);
        return failFatal(
            Error(PWRT_ERROR_PEER_LOST,
                  fmt::format("rank {}: no progress for {:.1f} s while "
                              "waiting on {}, presumed lost: {} on stream "
                              "'{}'",
                              myRank, options.timeoutSeconds, rankList(peers),
                              describeOp(s, op), stream.name),
                  /*fatal=*/true),
            peers.front());
      }
      // A kernel cannot be stopped: its device work stays stuck.
      deviceStuck = true;
      return failFatal(
          Error(PWRT_ERROR_TIMEOUT,
                fmt::format("rank {}: {} on stream '{}' is still running after "
                            "{:.1f} s",
                            myRank, describeOp(s, op), stream.name,
                            options.timeoutSeconds),
                /*fatal=*/true));
    }
    pauseAfter(nowNs - lastProgressNs);
  }
}

void CudaBackend::collectSlices() {
  auto toNs = [&](cudaEvent_t event, int64_t &ns) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, stepOrigin, event) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    // The step's origin completes as it is recorded; an op that started
    // a few microseconds "before" it started with it.
    ns = stepBeginNs - originNs +
         std::max<int64_t>(0, int64_t(double(ms) * 1e6));
    return true;
  };
  for (auto &stream : streams) {
    for (const OpInfo &op : stream->ops) {
      if (op.kind == OpInfo::Kind::Wait || op.kind == OpInfo::Kind::AllToAll ||
          !op.begin || !op.end)
        continue;
      Slice slice;
      slice.step = currentStep;
      if (!toNs(op.begin, slice.beginNs) || !toNs(op.end, slice.endNs))
        continue;
      if (op.kind == OpInfo::Kind::Kernel) {
        slice.kind = SliceKind::Kernel;
        slice.kernel = op.kernel;
        slice.stage = op.stage;
        slice.microbatch = op.microbatch;
        slice.layer = op.layer;
        slice.detail = uint8_t(op.action);
        stream->slices.push_back(slice);
        continue;
      }
      for (uint32_t t = 0; t < op.numTransfers; ++t) {
        const Transfer &transfer = stream->transfers[op.firstTransfer + t];
        const pwrt_transfer &m = transfer.message;
        slice.kind = transfer.isSend ? SliceKind::Send : SliceKind::Recv;
        slice.bytes = int64_t(m.bytes);
        slice.stage = m.stage;
        slice.microbatch = m.microbatch;
        slice.peer = m.peer;
        slice.tag = m.tag;
        slice.detail = uint8_t(m.payload);
        stream->slices.push_back(slice);
      }
    }
  }
}

Error CudaBackend::stepEnd() {
  if (!fatal)
    waitForStreams();
  if (!fatal && tracing)
    collectSlices();

  Error outcome;
  if (!fatal) {
    StepReport mine;
    mine.failed = failed;
    mine.status = failedStatus;
    mine.wallNs = failedWallNs;
    mine.message = failedMessage;
    mine.sent = sent;
    mine.received = received;
    std::vector<std::string> all;
    if (std::optional<FatalReport> report = control->allGather(
            encodeStepReport(mine), all,
            fmt::format("the end of step {}", currentStep))) {
      adoptFatal(*report);
    } else {
      std::vector<StepReport> reports;
      for (int r = 0; r < numRanks && !fatal; ++r) {
        std::optional<StepReport> report =
            decodeStepReport(all[size_t(r)], numRanks);
        if (!report)
          failFatal(makeError(PWRT_ERROR_INTERNAL,
                              "rank {}: the step report of rank {} is "
                              "garbled: '{}'",
                              myRank, r,
                              jsonEscape(all[size_t(r)].substr(0, 200))));
        else
          reports.push_back(std::move(*report));
      }
      if (!fatal) {
        // The local transport pairs by tag, NCCL by order.
        outcome = combineStepReports(reports, /*checkOrder=*/comm != nullptr);
        if (outcome.fatal) {
          // Every rank found the same: no need to tell the others.
          fatal = FatalReport{outcome.code, myRank, -1, wallClockNs(),
                              outcome.message};
          mode = kAborting;
          abortComm();
        }
      }
    }
  }

  if (tracing) {
    Slice slice;
    slice.kind = SliceKind::Step;
    slice.beginNs = stepBeginNs - originNs;
    slice.endNs = monotonicNs() - originNs;
    slice.step = currentStep;
    stepSlices.push_back(slice);
  }
  if (fatal)
    return fatalError();
  return outcome;
}

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

void CudaBackend::failLocal(pwrt_status status, std::string message) {
  if (!failed) {
    failed = true;
    failedStatus = status;
    failedWallNs = wallClockNs();
    failedMessage = std::move(message);
  }
  if (mode == kRunning)
    mode = kDraining;
}

void CudaBackend::failFatal(const Error &error, int lostRank) {
  if (fatal)
    return;
  fatal =
      FatalReport{error.code, myRank, lostRank, wallClockNs(), error.message};
  mode = kAborting;
  control->announceFatal(*fatal);
  abortComm();
}

void CudaBackend::adoptFatal(const FatalReport &report) {
  if (fatal)
    return;
  fatal = report;
  mode = kAborting;
  // A timeout the control plane or the local transport detected here is
  // announced already; a peer's needs no answer.
  abortComm();
}

void CudaBackend::failStep(pwrt_status status, const std::string &message) {
  failLocal(status, fmt::format("rank {}: {}", myRank, message));
}

void CudaBackend::abandonStep(const std::string &why) {
  failFatal(Error(PWRT_ERROR_INVALID_STATE,
                  fmt::format("rank {}: {}", myRank, why), /*fatal=*/true));
}

void CudaBackend::abortComm() {
  // Ends NCCL's kernels, which would otherwise wait for a peer forever.
  if (comm) {
    ncclCommAbort(comm);
    comm = nullptr;
  }
}

//===----------------------------------------------------------------------===//
// Shutdown
//===----------------------------------------------------------------------===//

Error CudaBackend::writeTrace() {
  std::vector<StreamTrace> traces;
  std::vector<const std::vector<Slice> *> slices;
  for (const auto &stream : streams) {
    traces.push_back(StreamTrace{stream->name, &stream->slices});
    slices.push_back(&stream->slices);
  }
  OverlapSummary overlap = transferOverlap(slices);
  std::string mine = fmt::format("{} {} {}\n", overlap.transferNs,
                                 overlap.hiddenNs, overlap.kernelNs) +
                     renderRankTrace(myRank, traces, stepSlices, kernels);
  std::vector<std::string> all;
  if (std::optional<FatalReport> report =
          control->allGather(mine, all, "gathering the trace")) {
    adoptFatal(*report);
    return fatalError();
  }
  if (myRank != 0)
    return Error::ok();
  OverlapSummary total;
  std::vector<std::string> rankEvents;
  for (const std::string &text : all) {
    size_t newline = text.find('\n');
    OverlapSummary part;
    long long transferNs = 0, hiddenNs = 0, kernelNs = 0;
    if (std::sscanf(text.c_str(), "%lld %lld %lld", &transferNs, &hiddenNs,
                    &kernelNs) == 3) {
      part.transferNs = transferNs;
      part.hiddenNs = hiddenNs;
      part.kernelNs = kernelNs;
    }
    total += part;
    rankEvents.push_back(newline == std::string::npos
                             ? std::string()
                             : text.substr(newline + 1));
  }
  if (Error error = writeTraceFile(options.tracePath, rankEvents))
    return error;
  if (!options.quiet) {
    std::string line = fmt::format(
        "pwrt: wrote the CUDA trace of {} ranks to {}: transfers {:.1f} us, "
        "{:.1f}% of it hidden under kernels (kernels {:.1f} us){}\n",
        numRanks, options.tracePath, total.transferNs / 1e3,
        100.0 * total.hiddenFraction(), total.kernelNs / 1e3,
        transportNote.empty() ? "" : "; local transport: " + transportNote);
    std::fputs(line.c_str(), stderr);
  }
  return Error::ok();
}

void CudaBackend::destroyCudaObjects() {
  cudaSetDevice(deviceOrdinal);
  for (auto &stream : streams) {
    for (cudaEvent_t event : stream->eventPool)
      cudaEventDestroy(event);
    stream->eventPool.clear();
    cudaFreeHost(stream->scratch.host);
    cudaFree(stream->scratch.device);
    for (void *overflow : stream->scratch.overflow)
      cudaFree(overflow);
    stream->scratch = AllToAllScratch();
    if (stream->stream)
      cudaStreamDestroy(stream->stream);
    stream->stream = nullptr;
  }
  for (UserEvent &event : events)
    if (event.event)
      cudaEventDestroy(event.event);
  events.clear();
  for (cudaEvent_t event : transportEvents)
    cudaEventDestroy(event);
  transportEvents.clear();
  if (stepOrigin)
    cudaEventDestroy(stepOrigin);
  stepOrigin = nullptr;
  if (originStream)
    cudaStreamDestroy(originStream);
  originStream = nullptr;
}

Error CudaBackend::shutdown() {
  if (shutDown)
    return fatalError();
  shutDown = true;
  if (!started)
    return Error::ok();
  cudaSetDevice(deviceOrdinal);

  if (fatal) {
    abortComm();
    // Give the streams a moment to drain (aborted NCCL kernels end); a
    // kernel that never ends keeps the device and the pool.
    int64_t deadlineNs = monotonicNs() + 1'000'000'000;
    for (auto &stream : streams)
      while (cudaStreamQuery(stream->stream) == cudaErrorNotReady &&
             monotonicNs() < deadlineNs)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (auto &stream : streams)
      if (cudaStreamQuery(stream->stream) == cudaErrorNotReady)
        deviceStuck = true;
    control->markBroken();
    if (!deviceStuck)
      destroyCudaObjects();
    return fatalError();
  }

  Error result;
  for (auto &stream : streams)
    if (cudaError_t rc = cudaStreamSynchronize(stream->stream); !result && rc)
      result = cudaCallFailed("cudaStreamSynchronize", rc,
                              site("shutting down", stream.get()));
  if (tracing && !result)
    result = writeTrace();
  // Nobody leaves before everybody is done: a rank that exits early can
  // make the launcher kill the others.
  std::vector<std::string> all;
  if (!fatal) {
    if (std::optional<FatalReport> report =
            control->allGather("", all, "the shutdown barrier")) {
      adoptFatal(*report);
      result = fatalError();
    }
  }
  if (comm) {
    CallSite where = site("shutting down");
    ncclResult_t rc = ncclCommFinalize(comm);
    Error error;
    if (rc == ncclInProgress)
      error = waitForComm("ncclCommFinalize", where, {});
    else if (rc != ncclSuccess)
      error = ncclCallFailed("ncclCommFinalize", rc, comm, where);
    if (error) {
      abortComm();
      if (!result)
        result = error;
    } else {
      ncclCommDestroy(comm);
      comm = nullptr;
    }
  }
  if (fatal)
    control->markBroken();
  destroyCudaObjects();
  return result;
}

//===----------------------------------------------------------------------===//
// Creation
//===----------------------------------------------------------------------===//

/// This process's placement of `device`, or an error message.
std::string placementOf(int device) {
  char busId[64] = {};
  cudaError_t rc = cudaDeviceGetPCIBusId(busId, sizeof(busId), device);
  if (rc != cudaSuccess)
    return fmt::format("!cudaDeviceGetPCIBusId failed with {} ({}) for "
                       "device {}",
                       cudaGetErrorName(rc), cudaGetErrorString(rc), device);
  return encodePlacement(RankPlacement{hostName(), busId, device});
}

/// Waits for a nonblocking communicator to finish what it started
/// (initialization), at most the timeout; a peer's fatal announcement on
/// `control` (may be null) ends the wait too.
Error waitForNewComm(ncclComm_t comm, double timeoutSeconds, int rank,
                     const std::string &what, ControlPlane *control) {
  int64_t startNs = monotonicNs();
  for (;;) {
    if (control)
      if (std::optional<FatalReport> report = control->pollFatal())
        return report->toError();
    ncclResult_t state = ncclSuccess;
    ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess)
      return ncclCallFailed("ncclCommGetAsyncError", rc, comm,
                            CallSite{rank, what, ""});
    if (state == ncclSuccess)
      return Error::ok();
    if (state != ncclInProgress)
      return ncclCallFailed("ncclCommInitRankConfig", state, comm,
                            CallSite{rank, what, ""});
    int64_t idleNs = monotonicNs() - startNs;
    if (idleNs > int64_t(timeoutSeconds * 1e9))
      return Error(PWRT_ERROR_PEER_LOST,
                   fmt::format("rank {}: no progress for {:.1f} s in {}: "
                               "NCCL could not reach every rank",
                               rank, timeoutSeconds, what),
                   /*fatal=*/true);
    pauseAfter(idleNs);
  }
}

std::optional<TransportChoice> transportFromEnvironment(Error &error) {
  const char *text = std::getenv("PW_CUDA_TRANSPORT");
  std::optional<TransportChoice> choice = parseTransportName(text);
  if (!choice)
    error = makeError(PWRT_ERROR_INVALID_ARGUMENT,
                      "PW_CUDA_TRANSPORT='{}' is not auto, nccl or local",
                      text ? text : "");
  return choice;
}

} // namespace

std::unique_ptr<Backend> createCudaBackend(const ResolvedOptions &options,
                                           const KernelTable &kernels,
                                           Error &error) {
  std::unique_ptr<ControlPlane> control;
  if (haveMpiControl())
    control = createMpiControl(options.timeoutSeconds, error);
  else
    control = createLocalControl(std::make_shared<LocalGroup>(1), 0,
                                 options.timeoutSeconds);
  if (error)
    return nullptr;
  int rank = control->rank(), size = control->size();
  if (options.expectedWorldSize > 0 && size != options.expectedWorldSize) {
    const char *launcher = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!launcher)
      launcher = std::getenv("PMI_SIZE");
    error = makeError(PWRT_ERROR_WORLD_SIZE_MISMATCH,
                      "the program was compiled for {} ranks but runs on {} "
                      "(this is rank {}); launch it with mpirun -np {}{}",
                      options.expectedWorldSize, size, rank,
                      options.expectedWorldSize,
                      !haveMpiControl() && launcher
                          ? " (this runtime was built without MPI, so every "
                            "process is a job of one rank; use "
                            "pwrt_cuda_contexts_create)"
                          : "");
    return nullptr;
  }
  std::optional<TransportChoice> choice = transportFromEnvironment(error);
  if (error)
    return nullptr;

  // Every rank says where it runs, or why it cannot: then all fail alike.
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  std::optional<std::string> problem = deviceCountProblem(rc, count);
  int device = deviceForLocalRank(control->localRank(), count);
  std::string mine =
      problem ? fmt::format("!{}", *problem) : placementOf(device);
  if (!problem && mine[0] != '!') {
    if (cudaError_t set = cudaSetDevice(device))
      mine = fmt::format("!cudaSetDevice({}) failed with {} ({})", device,
                         cudaGetErrorName(set), cudaGetErrorString(set));
  }
  std::vector<std::string> all;
  if (std::optional<FatalReport> report =
          control->allGather(mine, all, "sharing the ranks' GPUs")) {
    error = report->toError();
    return nullptr;
  }
  std::vector<RankPlacement> placements;
  std::vector<std::string> problems(static_cast<size_t>(size));
  bool anyProblem = false;
  for (int r = 0; r < size; ++r) {
    const std::string &text = all[size_t(r)];
    std::optional<RankPlacement> placement;
    if (!text.empty() && text[0] == '!')
      problems[size_t(r)] = text.substr(1);
    else if ((placement = decodePlacement(text)))
      placements.push_back(*placement);
    else
      problems[size_t(r)] = "sent a garbled placement";
    anyProblem |= !problems[size_t(r)].empty();
  }
  if (anyProblem) {
    error = Error(PWRT_ERROR_DEVICE, summarizeRankProblems(problems));
    return nullptr;
  }
  TransportPlan plan =
      planTransport(placements, control->singleProcess(), *choice);
  if (plan.error) {
    error = plan.error;
    return nullptr;
  }

  CudaBackend::Setup setup;
  setup.rank = rank;
  setup.size = size;
  setup.device = device;
  setup.transportNote = plan.note;
  if (plan.nccl) {
    // Rank 0 makes the unique id; the control plane carries it.
    std::string id;
    if (rank == 0) {
      ncclUniqueId unique;
      ncclResult_t result = ncclGetUniqueId(&unique);
      id = result == ncclSuccess
               ? std::string(unique.internal, sizeof(unique.internal))
               : fmt::format("!{}",
                             ncclCallFailed("ncclGetUniqueId", result, nullptr,
                                            CallSite{rank,
                                                     "creating the "
                                                     "NCCL id",
                                                     ""})
                                 .message);
    }
    if (std::optional<FatalReport> report =
            control->allGather(id, all, "sharing the NCCL id")) {
      error = report->toError();
      return nullptr;
    }
    const std::string &shared = all[0];
    if (shared.size() != sizeof(ncclUniqueId::internal)) {
      error =
          Error(PWRT_ERROR_DEVICE, shared.empty() || shared[0] != '!'
                                       ? std::string("rank 0 sent no NCCL id")
                                       : shared.substr(1));
      return nullptr;
    }
    ncclUniqueId unique;
    std::memcpy(unique.internal, shared.data(), sizeof(unique.internal));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0; // every wait can time out
    ncclComm_t comm = nullptr;
    ncclResult_t result =
        ncclCommInitRankConfig(&comm, size, unique, rank, &config);
    std::string what = fmt::format("creating the NCCL communicator of {} "
                                   "ranks",
                                   size);
    if (result != ncclSuccess && result != ncclInProgress)
      error = ncclCallFailed("ncclCommInitRankConfig", result, comm,
                             CallSite{rank, what, ""});
    else
      error = waitForNewComm(comm, options.timeoutSeconds, rank, what,
                             control.get());
    if (error) {
      if (comm)
        ncclCommAbort(comm);
      control->announceFatal(
          FatalReport{error.code, rank, -1, wallClockNs(), error.message});
      return nullptr;
    }
    setup.comm = comm;
  } else {
    // One rank on its own (PW_CUDA_TRANSPORT=local): it can only send to
    // itself.
    setup.localGroup = std::make_shared<LocalGroup>(1);
  }
  setup.control = std::move(control);

  auto backend =
      std::make_unique<CudaBackend>(options, kernels, std::move(setup));
  // A shared time zero for the merged trace, right after a barrier.
  Error barrierError = backend->allGather("", all);
  if (barrierError) {
    error = barrierError;
    return nullptr;
  }
  error = backend->start(monotonicNs());
  if (error)
    return nullptr;
  return backend;
}

Error createCudaLocalBackends(const ResolvedOptions &options,
                              const std::vector<const KernelTable *> &kernels,
                              const std::vector<int> &devices,
                              std::vector<std::unique_ptr<Backend>> &backends) {
  int size = int(kernels.size());
  Error error;
  std::optional<TransportChoice> choice = transportFromEnvironment(error);
  if (error)
    return error;
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (std::optional<std::string> problem = deviceCountProblem(rc, count))
    return Error(PWRT_ERROR_DEVICE, *problem);
  std::vector<int> deviceOf(size_t(size), 0);
  std::vector<RankPlacement> placements;
  for (int r = 0; r < size; ++r) {
    deviceOf[size_t(r)] =
        devices.empty() ? deviceForLocalRank(r, count) : devices[size_t(r)];
    int device = deviceOf[size_t(r)];
    if (device < 0 || device >= count)
      return makeError(PWRT_ERROR_INVALID_ARGUMENT,
                       "rank {} asks for device {}, but this process sees {} "
                       "device{}",
                       r, device, count, count == 1 ? "" : "s");
    std::string text = placementOf(device);
    if (text[0] == '!')
      return makeError(PWRT_ERROR_DEVICE, "rank {}: {}", r, text.substr(1));
    placements.push_back(*decodePlacement(text));
  }
  TransportPlan plan =
      planTransport(placements, /*singleProcess=*/true, *choice);
  if (plan.error)
    return plan.error;

  std::vector<ncclComm_t> comms(size_t(size), nullptr);
  if (plan.nccl) {
    // What ncclCommInitAll does (one id, one ncclCommInitRank per device in
    // one group), with nonblocking communicators.
    auto abortAll = [&] {
      for (ncclComm_t &comm : comms)
        if (comm)
          ncclCommAbort(comm);
    };
    std::string what =
        fmt::format("creating the NCCL communicators of {} ranks", size);
    ncclUniqueId unique;
    ncclResult_t result = ncclGetUniqueId(&unique);
    if (result != ncclSuccess)
      return ncclCallFailed("ncclGetUniqueId", result, nullptr,
                            CallSite{-1, what, ""});
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    result = ncclGroupStart();
    for (int r = 0;
         r < size && (result == ncclSuccess || result == ncclInProgress); ++r) {
      if (cudaError_t set = cudaSetDevice(deviceOf[size_t(r)])) {
        ncclGroupEnd();
        abortAll();
        return cudaCallFailed("cudaSetDevice", set, CallSite{r, what, ""});
      }
      result =
          ncclCommInitRankConfig(&comms[size_t(r)], size, unique, r, &config);
    }
    ncclResult_t end = ncclGroupEnd();
    if (result == ncclSuccess || result == ncclInProgress)
      result = end;
    if (result != ncclSuccess && result != ncclInProgress) {
      abortAll();
      return ncclCallFailed("ncclCommInitRankConfig", result, nullptr,
                            CallSite{-1, what, ""});
    }
    for (int r = 0; r < size; ++r)
      if (Error wait = waitForNewComm(comms[size_t(r)], options.timeoutSeconds,
                                      r, what, nullptr)) {
        abortAll();
        return wait;
      }
  }

  auto group = std::make_shared<LocalGroup>(size);
  std::vector<std::unique_ptr<CudaBackend>> created;
  int64_t originNs = monotonicNs();
  for (int r = 0; r < size; ++r) {
    CudaBackend::Setup setup;
    setup.rank = r;
    setup.size = size;
    setup.device = deviceOf[size_t(r)];
    setup.control = createLocalControl(group, r, options.timeoutSeconds);
    setup.comm = comms[size_t(r)];
    comms[size_t(r)] = nullptr; // the backend owns it now
    if (!plan.nccl)
      setup.localGroup = group;
    setup.transportNote = plan.note;
    created.push_back(std::make_unique<CudaBackend>(
        options, *kernels[size_t(r)], std::move(setup)));
    if (Error started = created.back()->start(originNs)) {
      // The others would wait for this one in shutdown: mark them failed.
      for (auto &backend : created)
        backend->abandonStep("another rank of this process failed to start");
      for (ncclComm_t comm : comms)
        if (comm)
          ncclCommAbort(comm);
      return started;
    }
  }
  for (auto &backend : created)
    backends.push_back(std::move(backend));
  return Error::ok();
}

} // namespace pwrt
