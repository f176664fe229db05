//===- HostBackend.cpp - Streams as threads, transfers over MPI -----------===//
//
// One process per rank. Every stream is a worker thread draining an in-order
// queue. Kernels run on the worker; an event is a completion counter that
// waiting workers block on; a p2p group is posted with MPI_Isend/MPI_Irecv
// and completed by polling on its own stream's worker, so only that stream
// waits for it and compute streams keep running. An all-to-all runs the
// same way: row counts, then rows, point to point between the members of
// its group. MPI runs at
// MPI_THREAD_MULTIPLE: each stream posts and completes its own requests with
// no hand-off to a communication thread, which keeps a transfer's overhead
// to the MPI calls themselves.
//
// Failures. A monitor thread per context exchanges step reports over a
// control communicator: every rank sends every other rank one report per
// step, at once when one of its kernels fails (so the others stop running
// kernels early) and otherwise at the end of the step, where each rank
// waits for all reports and so learns the same outcome. After a kernel
// failure a rank skips its kernels but still runs its transfers, which
// keeps every peer's matching send or receive alive: the step ends
// everywhere and MPI stays usable. The monitor also stops kernels that run
// past the timeout, and p2p groups stop when no request completes within
// it; those errors are fatal: the rank tells its peers, every stream
// abandons its work and the peers do the same.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "Mpi.h"
#include "Trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <sched.h>
#include <thread>

namespace pwrt {
namespace {

int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Wall-clock time orders failures of different ranks (steady clocks of
// different hosts are unrelated).
int64_t wallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t secondsToNs(double seconds) { return int64_t(seconds * 1e9); }

// MPI counts are ints: longer transfers go as several messages of at most
// this size with the same tag, which MPI keeps in order.
constexpr size_t kChunkBytes = size_t(1) << 30;

enum ControlTag : int { kReportTag = 1, kByeTag = 2 };

/// Waiting without burning the CPU that other ranks' kernels need: spin
/// briefly (a message on shared memory takes about a microsecond), then
/// yield, then sleep in short steps.
class Backoff {
public:
  void reset() { idleSinceNs = monotonicNs(); }
  void pause() {
    int64_t idleNs = monotonicNs() - idleSinceNs;
    if (idleNs < 20'000)
      return;
    if (idleNs < 1'000'000) {
      sched_yield();
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  int64_t idleNs() const { return monotonicNs() - idleSinceNs; }

private:
  int64_t idleSinceNs = monotonicNs();
};

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Polls `ready` for up to `budgetNs` before a caller blocks: handing work
/// to a sleeping thread costs a futex wake-up and a reschedule (several
/// microseconds), far more than the runtime's own work per action. After a
/// few rounds it yields instead of spinning, so that on an oversubscribed
/// machine the thread being waited for gets the core.
template <typename Ready> bool spinUntil(Ready &&ready, int64_t budgetNs) {
  int64_t startNs = 0;
  for (int round = 0;; ++round) {
    if (ready())
      return true;
    if (round < 64) {
      cpuRelax();
      continue;
    }
    if (startNs == 0)
      startNs = monotonicNs();
    else if (monotonicNs() - startNs > budgetNs)
      return false;
    sched_yield();
  }
}

constexpr int64_t kSpinNs = 50'000;

/// Wakes threads waiting for "something changed" (an event completed, a
/// stream went idle, the step failed). Waiters re-check their condition.
class Notifier {
public:
  uint32_t epoch() const { return sequence.load(std::memory_order_seq_cst); }
  void notify() {
    sequence.fetch_add(1, std::memory_order_seq_cst);
    if (waiters.load(std::memory_order_seq_cst) != 0)
      sequence.notify_all();
  }
  void waitChange(uint32_t seen) {
    waiters.fetch_add(1, std::memory_order_seq_cst);
    sequence.wait(seen, std::memory_order_seq_cst);
    waiters.fetch_sub(1, std::memory_order_seq_cst);
  }

private:
  std::atomic<uint32_t> sequence{0};
  std::atomic<uint32_t> waiters{0};
};

struct Event {
  uint64_t lastTicket = 0; // host thread: records enqueued
  std::atomic<uint64_t> completedTicket{0};
};

struct Op {
  enum class Kind : uint8_t { Launch, Record, Wait, Group, AllToAll };
  Kind kind = Kind::Launch;
  int32_t event = -1;
  uint64_t ticket = 0; // AllToAll: its sequence number in the group
  int32_t label = -1;  // AllToAll: its name in the label table
  LaunchOp launch;
  std::vector<Transfer> transfers;
  AllToAllOp allToAll;
};

/// A process group: its own communicator (a duplicate of the world, so that
/// the tags of its all-to-alls meet no other message; peers keep their
/// world ranks) and the count of all-to-alls enqueued on it.
struct Group {
  MPI_Comm comm = MPI_COMM_NULL;
  uint64_t enqueued = 0; // host thread only
};

struct Stream {
  int index = 0;
  std::string name;
  std::thread thread;

  std::mutex mutex; // guards queue, sleeping, stop
  std::condition_variable wakeup;
  std::vector<Op> queue;
  bool sleeping = false;
  bool stop = false;
  std::atomic<size_t> queued{0}; // queue.size(), readable without the lock

  uint64_t enqueued = 0; // host thread only
  std::atomic<uint64_t> completed{0};
  std::atomic<bool> exited{false};

  // The kernel running now, for the watchdog (start 0: none).
  std::atomic<int64_t> kernelStartNs{0};
  std::atomic<int32_t> kernelId{-1};
  std::atomic<int32_t> kernelStage{-1};
  std::atomic<int32_t> kernelMicrobatch{-1};
  std::atomic<int32_t> kernelLayer{-1};
  std::atomic<int32_t> kernelKind{0};

  std::vector<Slice> slices; // worker only, read after it stops

  // Scratch of the group being completed (worker only).
  std::vector<MPI_Request> requests;
  std::vector<int> requestTransfer;
  std::vector<size_t> requestBytes;
  std::vector<int> chunksLeft;
  std::vector<int64_t> transferBeginNs;
  std::vector<int> completedIndices;
  std::vector<MPI_Status> statuses;

  // What an all-to-all's MPI requests read and write besides the caller's
  // buffers: here, not on the worker's stack, so that requests left
  // pending when one is abandoned (a lost peer) never point to freed
  // memory. Each entry is a peer's row count and row size.
  std::vector<std::array<int64_t, 2>> countsOut, countsIn;
  std::vector<char> overflow; // received rows that do not fit
};

/// A failure as this rank knows it.
struct Failure {
  pwrt_status status = PWRT_OK;
  int origin = -1;   // rank where it happened
  int lostRank = -1; // PWRT_ERROR_PEER_LOST: the rank presumed gone
  bool fatal = false;
  int64_t wallNs = 0;
  std::string message; // starts with "rank <origin>: "
};

/// Wire format of a report (MPI_BYTE on the control communicator).
struct ReportMessage {
  uint64_t step;
  int32_t sender;
  int32_t hasFailure; // a failure that happened on the sender
  int32_t status;
  int32_t fatal;
  int32_t lostRank;
  int32_t reserved;
  int64_t wallNs;
  char message[1000];
};

enum Mode : int {
  kRunning = 0,  // run everything
  kDraining = 1, // the step failed somewhere: skip kernels, run transfers
  kAborting = 2, // fatal: skip everything
};

class HostBackend final : public Backend {
public:
  HostBackend(const ResolvedOptions &options, const KernelTable &kernels)
      : options(options), kernels(kernels),
        timeoutNs(secondsToNs(options.timeoutSeconds)),
        tracing(!options.tracePath.empty()) {}
  ~HostBackend() override;

  Error initialize();

  int rank() const override { return myRank; }
  int worldSize() const override { return numRanks; }
  int maxTag() const override { return tagUpperBound; }

  Error allocatePool(size_t bytes, size_t alignment, void **base) override;
  void freePool(void *base) override { std::free(base); }
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
  bool hasStuckThreads() const override { return stuckThreads; }

private:
  // Streams.
  void enqueue(Stream &stream, Op &&op);
  void workerLoop(Stream &stream);
  void runOp(Stream &stream, Op &op);
  void runKernel(Stream &stream, LaunchOp &launch);
  void runWait(const Event &event, uint64_t ticket);
  void runGroup(Stream &stream, std::vector<Transfer> &transfers);
  void runAllToAll(Stream &stream, const Op &op);
  bool streamsIdle() const;
  void stopStreams(bool fatal);

  // Failures.
  void failLocal(Failure failure);
  /// Fails the step fatally after no progress for the timeout while
  /// waiting on `peers` (the first is reported lost); `what` says on what.
  void failPeersLost(const std::vector<int> &peers, const std::string &what);
  void failRemoteFatal(const ReportMessage &report);
  Error fatalError();

  // Control plane; the *Locked functions need controlMutex.
  void monitorLoop();
  void kickMonitor();
  void pollControlLocked();
  void handleReportLocked(const ReportMessage &report);
  void sendPendingReportsLocked();
  void sendReportLocked(const Failure *failure, bool fatal);
  void checkKernelTimeouts();
  Error agreeOnStep();

  /// Completes `request` or fails after the timeout without progress.
  Error waitForRequest(MPI_Request &request, const char *what);
  bool isLost(int rank);

  ResolvedOptions options;
  const KernelTable &kernels;
  const int64_t timeoutNs;
  const bool tracing;

  int myRank = 0;
  int numRanks = 1;
  int tagUpperBound = 32767;
  MPI_Comm dataComm = MPI_COMM_NULL;       // transfers
  MPI_Comm controlComm = MPI_COMM_NULL;    // reports
  MPI_Comm collectiveComm = MPI_COMM_NULL; // allGather, shutdown
  int64_t originNs = 0;                    // trace time zero

  std::vector<std::unique_ptr<Stream>> streams;
  std::vector<std::unique_ptr<Event>> events;
  std::vector<Group> groups;
  // All-to-all names for the trace; appended by the host thread, read at
  // shutdown.
  std::vector<std::string> labels;
  std::map<std::string, int32_t> labelIds;
  Notifier progress;

  std::atomic<int> mode{kRunning};
  std::atomic<uint64_t> currentStep{0};
  std::atomic<bool> stepActive{false};
  int64_t stepBeginNs = 0;
  std::vector<Slice> stepSlices; // host thread

  // Failures of this rank (lock order: controlMutex, failureMutex).
  std::mutex failureMutex;
  std::optional<Failure> localFailure; // first non-fatal one of the step
  std::optional<Failure> fatal;        // sticky
  bool localReportPending = false;
  bool fatalReportPending = false;
  std::vector<int> lostRanks;

  // Control plane.
  std::mutex controlMutex;
  MPI_Request reportRequest = MPI_REQUEST_NULL;
  ReportMessage reportIn{};
  std::map<uint64_t, std::vector<std::optional<ReportMessage>>> reports;
  std::vector<std::pair<MPI_Request, std::unique_ptr<ReportMessage>>> outgoing;
  uint64_t reportSentForStep = UINT64_MAX;

  std::thread monitor;
  std::mutex monitorMutex;
  std::condition_variable monitorWakeup;
  bool monitorStop = false;
  bool monitorKicked = false;

  bool initialized = false;
  bool shutDown = false;
  bool stuckThreads = false;
};

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

Error HostBackend::initialize() {
  if (Error error = mpi::initialize())
    return error;
  MPI_Comm_rank(MPI_COMM_WORLD, &myRank);
  MPI_Comm_size(MPI_COMM_WORLD, &numRanks);
  if (options.expectedWorldSize > 0 && numRanks != options.expectedWorldSize)
    return makeError(PWRT_ERROR_WORLD_SIZE_MISMATCH,
                     "the program was compiled for {} ranks but runs on {} "
                     "(this is rank {}); launch it with mpirun -np {}",
                     options.expectedWorldSize, numRanks, myRank,
                     options.expectedWorldSize);

  // Own communicators keep our tags apart from the program's MPI traffic,
  // and reports apart from data.
  for (MPI_Comm *comm : {&dataComm, &controlComm, &collectiveComm}) {
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, comm);
    if (rc != MPI_SUCCESS)
      return makeError(PWRT_ERROR_MPI, "MPI_Comm_dup failed: {}",
                       mpi::errorString(rc));
    // Errors come back as codes; the default handler would abort the job
    // without naming what failed.
    MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN);
  }
  int *upperBound = nullptr;
  int found = 0;
  MPI_Comm_get_attr(dataComm, MPI_TAG_UB, &upperBound, &found);
  if (found && upperBound)
    tagUpperBound = *upperBound;

  MPI_Request barrier = MPI_REQUEST_NULL;
  MPI_Ibarrier(collectiveComm, &barrier);
  if (Error error = waitForRequest(barrier, "the context's start barrier"))
    return error;
  // Every rank leaves the barrier within microseconds: a shared time zero
  // for the merged trace.
  originNs = monotonicNs();

  if (numRanks > 1)
    MPI_Irecv(&reportIn, sizeof(ReportMessage), MPI_BYTE, MPI_ANY_SOURCE,
              kReportTag, controlComm, &reportRequest);
  monitor = std::thread([this] { monitorLoop(); });
  initialized = true;
  mpi::retain();
  return Error::ok();
}

HostBackend::~HostBackend() {
  if (initialized && !shutDown)
    shutdown();
}

Error HostBackend::allocatePool(size_t bytes, size_t alignment, void **base) {
  size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void *memory = std::aligned_alloc(alignment, rounded);
  if (!memory)
    return makeError(PWRT_ERROR_OUT_OF_MEMORY,
                     "cannot allocate a pool of {} bytes", bytes);
  std::memset(memory, 0, rounded);
  *base = memory;
  return Error::ok();
}

Error HostBackend::createStream(const std::string &name) {
  auto stream = std::make_unique<Stream>();
  stream->index = int(streams.size());
  stream->name = name;
  Stream *raw = stream.get();
  streams.push_back(std::move(stream));
  raw->thread = std::thread([this, raw] { workerLoop(*raw); });
  return Error::ok();
}

Error HostBackend::createEvent() {
  events.push_back(std::make_unique<Event>());
  return Error::ok();
}

Error HostBackend::waitForRequest(MPI_Request &request, const char *what) {
  Backoff backoff;
  for (;;) {
    int done = 0;
    int rc = MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
      return Error(PWRT_ERROR_MPI,
                   fmt::format("rank {}: {} failed: {}", myRank, what,
                               mpi::errorString(rc)),
                   /*fatal=*/true);
    if (done)
      return Error::ok();
    if (backoff.idleNs() > timeoutNs)
      return Error(PWRT_ERROR_PEER_LOST,
                   fmt::format("rank {}: no progress for {:.1f} s in {}; a "
                               "peer is presumed lost",
                               myRank, options.timeoutSeconds, what),
                   /*fatal=*/true);
    backoff.pause();
  }
}

Error HostBackend::allGather(const std::string &mine,
                             std::vector<std::string> &all) {
  if (Error error = fatalError())
    return error;
  int length = int(mine.size());
  std::vector<int> lengths(numRanks);
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT,
                 collectiveComm, &request);
  if (Error error = waitForRequest(request, "an all-gather")) {
    failLocal(Failure{error.code, myRank, -1, true, wallNs(), error.message});
    return fatalError();
  }
  std::vector<int> offsets(numRanks);
  int total = 0;
  for (int r = 0; r < numRanks; ++r) {
    offsets[r] = total;
    total += lengths[r];
  }
  std::string gathered(size_t(total), '\0');
  MPI_Iallgatherv(mine.data(), length, MPI_CHAR, gathered.data(),
                  lengths.data(), offsets.data(), MPI_CHAR, collectiveComm,
                  &request);
  if (Error error = waitForRequest(request, "an all-gather")) {
    failLocal(Failure{error.code, myRank, -1, true, wallNs(), error.message});
    return fatalError();
  }
  all.assign(size_t(numRanks), std::string());
  for (int r = 0; r < numRanks; ++r)
    all[r] = gathered.substr(size_t(offsets[r]), size_t(lengths[r]));
  return Error::ok();
}

//===----------------------------------------------------------------------===//
// Enqueueing (host thread)
//===----------------------------------------------------------------------===//

void HostBackend::enqueue(Stream &stream, Op &&op) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(stream.mutex);
    stream.queue.push_back(std::move(op));
    stream.queued.store(stream.queue.size(), std::memory_order_release);
    wake = stream.sleeping;
  }
  ++stream.enqueued;
  // Only a sleeping worker needs the (costly) wake-up; a busy one finds
  // the op when it takes its next batch.
  if (wake)
    stream.wakeup.notify_one();
}

Error HostBackend::launch(int stream, LaunchOp &&launchOp) {
  Op op;
  op.kind = Op::Kind::Launch;
  op.launch = std::move(launchOp);
  enqueue(*streams[stream], std::move(op));
  return Error::ok();
}

Error HostBackend::recordEvent(int stream, int event) {
  Op op;
  op.kind = Op::Kind::Record;
  op.event = event;
  op.ticket = ++events[event]->lastTicket;
  enqueue(*streams[stream], std::move(op));
  return Error::ok();
}

Error HostBackend::waitEvent(int stream, int event) {
  uint64_t ticket = events[event]->lastTicket;
  if (ticket == 0)
    return Error::ok(); // never recorded: complete
  Op op;
  op.kind = Op::Kind::Wait;
  op.event = event;
  op.ticket = ticket;
  enqueue(*streams[stream], std::move(op));
  return Error::ok();
}

Error HostBackend::submitGroup(int stream, std::vector<Transfer> &&group) {
  Op op;
  op.kind = Op::Kind::Group;
  op.transfers = std::move(group);
  enqueue(*streams[stream], std::move(op));
  return Error::ok();
}

Error HostBackend::createGroup(int group, const std::vector<int> &members) {
  (void)members; // peers are addressed by their world ranks
  if (Error error = fatalError())
    return error;
  if (group != int(groups.size()))
    return makeError(PWRT_ERROR_INTERNAL, "group {} created as number {}",
                     group, groups.size());
  // Non-blocking, so that a rank that never arrives is a timeout.
  Group created;
  MPI_Request request = MPI_REQUEST_NULL;
  int rc = MPI_Comm_idup(dataComm, &created.comm, &request);
  if (rc != MPI_SUCCESS)
    return makeError(PWRT_ERROR_MPI, "MPI_Comm_idup failed: {}",
                     mpi::errorString(rc));
  if (Error error = waitForRequest(request, "creating a process group")) {
    failLocal(Failure{error.code, myRank, -1, true, wallNs(), error.message});
    return fatalError();
  }
  MPI_Comm_set_errhandler(created.comm, MPI_ERRORS_RETURN);
  groups.push_back(created);
  return Error::ok();
}

Error HostBackend::allToAll(int stream, AllToAllOp &&allToAll) {
  Op op;
  op.kind = Op::Kind::AllToAll;
  op.ticket = groups[size_t(allToAll.group)].enqueued++;
  if (tracing) {
    auto [found, inserted] =
        labelIds.try_emplace(allToAll.name, int32_t(labels.size()));
    if (inserted)
      labels.push_back(allToAll.name);
    op.label = found->second;
  }
  op.allToAll = std::move(allToAll);
  enqueue(*streams[stream], std::move(op));
  return Error::ok();
}

//===----------------------------------------------------------------------===//
// Stream workers
//===----------------------------------------------------------------------===//

void HostBackend::workerLoop(Stream &stream) {
  std::vector<Op> batch;
  for (;;) {
    spinUntil(
        [&] { return stream.queued.load(std::memory_order_acquire) != 0; },
        kSpinNs);
    {
      std::unique_lock<std::mutex> lock(stream.mutex);
      while (stream.queue.empty() && !stream.stop) {
        stream.sleeping = true;
        stream.wakeup.wait(lock);
        stream.sleeping = false;
      }
      if (stream.queue.empty())
        break;
      batch.swap(stream.queue);
      stream.queued.store(0, std::memory_order_relaxed);
    }
    for (Op &op : batch) {
      try {
        runOp(stream, op);
      } catch (const std::exception &exception) {
        failLocal(Failure{PWRT_ERROR_INTERNAL, myRank, -1, true, wallNs(),
                          fmt::format("rank {}: stream '{}': {}", myRank,
                                      stream.name, exception.what())});
      }
      stream.completed.fetch_add(1, std::memory_order_release);
    }
    batch.clear();
    progress.notify();
  }
  stream.exited.store(true);
  progress.notify();
}

void HostBackend::runOp(Stream &stream, Op &op) {
  switch (op.kind) {
  case Op::Kind::Launch:
    if (mode.load(std::memory_order_relaxed) == kRunning)
      runKernel(stream, op.launch);
    return;
  case Op::Kind::Record: {
    // Records still run while draining: they order the transfers.
    std::atomic<uint64_t> &completed = events[op.event]->completedTicket;
    uint64_t seen = completed.load();
    while (seen < op.ticket &&
           !completed.compare_exchange_weak(seen, op.ticket)) {
    }
    progress.notify();
    return;
  }
  case Op::Kind::Wait:
    runWait(*events[op.event], op.ticket);
    return;
  case Op::Kind::Group:
    if (mode.load(std::memory_order_relaxed) != kAborting)
      runGroup(stream, op.transfers);
    return;
  case Op::Kind::AllToAll:
    if (mode.load(std::memory_order_relaxed) != kAborting)
      runAllToAll(stream, op);
    return;
  }
}

void HostBackend::failPeersLost(const std::vector<int> &peers,
                                const std::string &what) {
  std::string who = fmt::format("rank {}", peers.front());
  for (size_t p = 1; p < peers.size(); ++p)
    who += fmt::format(", rank {}", peers[p]);
  failLocal(Failure{
      PWRT_ERROR_PEER_LOST, myRank, peers.front(), true, wallNs(),
      fmt::format("rank {}: no progress for {:.1f} s while waiting on {}, "
                  "presumed lost: {}",
                  myRank, options.timeoutSeconds, who, what)});
}

void HostBackend::runKernel(Stream &stream, LaunchOp &launch) {
  const KernelEntry &kernel = kernels[size_t(launch.kernel)];
  pwrt_kernel_args args = launch.args;
  const pwrt_buffer *buffers = launch.buffers.data();
  args.inputs = buffers;
  args.outputs = buffers + args.num_inputs;
  args.gradients = buffers + args.num_inputs + args.num_outputs;
  args.kernel_name = kernel.name.c_str();
  args.user_data = kernel.userData;
  args.native_stream = nullptr;
  args.stream = stream.index;
  args.rank = myRank;
  args.step = currentStep.load(std::memory_order_relaxed);
  KernelCall call;
  args.runtime_private = &call;

  stream.kernelId.store(launch.kernel, std::memory_order_relaxed);
  stream.kernelStage.store(args.stage, std::memory_order_relaxed);
  stream.kernelMicrobatch.store(args.microbatch, std::memory_order_relaxed);
  stream.kernelLayer.store(args.layer, std::memory_order_relaxed);
  stream.kernelKind.store(int32_t(args.kind), std::memory_order_relaxed);
  int64_t beginNs = monotonicNs();
  stream.kernelStartNs.store(beginNs, std::memory_order_release);
  pwrt_status status;
  try {
    status = kernel.fn(&args);
  } catch (...) {
    status = PWRT_ERROR_KERNEL_FAILED;
    call.message = "the kernel threw a C++ exception";
  }
  int64_t endNs = monotonicNs();
  stream.kernelStartNs.store(0, std::memory_order_release);

  if (tracing) {
    Slice slice;
    slice.kind = SliceKind::Kernel;
    slice.beginNs = beginNs - originNs;
    slice.endNs = endNs - originNs;
    slice.step = args.step;
    slice.kernel = launch.kernel;
    slice.stage = args.stage;
    slice.microbatch = args.microbatch;
    slice.layer = args.layer;
    slice.detail = uint8_t(args.kind);
    stream.slices.push_back(slice);
  }
  if (status == PWRT_OK)
    return;
  std::string message = fmt::format(
      "rank {}: kernel '{}' failed at stage {}, micro-batch {}{} ({}) on "
      "stream '{}': {}",
      myRank, kernel.name, args.stage, args.microbatch, layerText(args.layer),
      actionKindName(args.kind), stream.name, statusString(status));
  if (!call.message.empty())
    message += ": " + call.message;
  failLocal(Failure{PWRT_ERROR_KERNEL_FAILED, myRank, -1, false, wallNs(),
                    std::move(message)});
}

void HostBackend::runWait(const Event &event, uint64_t ticket) {
  auto done = [&] {
    return event.completedTicket.load(std::memory_order_acquire) >= ticket ||
           mode.load(std::memory_order_relaxed) == kAborting;
  };
  if (spinUntil(done, kSpinNs))
    return;
  for (;;) {
    uint32_t epoch = progress.epoch();
    if (event.completedTicket.load(std::memory_order_acquire) >= ticket ||
        mode.load() == kAborting)
      return;
    progress.waitChange(epoch);
  }
}

void HostBackend::runGroup(Stream &stream, std::vector<Transfer> &transfers) {
  auto &requests = stream.requests;
  auto &requestTransfer = stream.requestTransfer;
  auto &requestBytes = stream.requestBytes;
  requests.clear();
  requestTransfer.clear();
  requestBytes.clear();
  stream.chunksLeft.assign(transfers.size(), 0);
  stream.transferBeginNs.assign(transfers.size(), 0);

  auto fatalMpi = [&](int rc, const std::string &what) {
    failLocal(Failure{PWRT_ERROR_MPI, myRank, -1, true, wallNs(),
                      fmt::format("rank {}: {} on stream '{}': {}", myRank,
                                  what, stream.name, mpi::errorString(rc))});
  };
  auto describe = [](const Transfer &transfer) {
    const pwrt_transfer &m = transfer.message;
    return fmt::format("{} {} stage {} mb {} {} rank {} ({} bytes, tag {})",
                       transfer.isSend ? "send" : "recv",
                       payloadName(m.payload), m.stage, m.microbatch,
                       transfer.isSend ? "to" : "from", m.peer, m.bytes, m.tag);
  };

  for (size_t t = 0; t < transfers.size(); ++t) {
    const pwrt_transfer &m = transfers[t].message;
    stream.transferBeginNs[t] = monotonicNs();
    size_t offset = 0;
    do {
      size_t bytes = std::min(kChunkBytes, m.bytes - offset);
      char *data = static_cast<char *>(m.data) + offset;
      MPI_Request request;
      int rc = transfers[t].isSend
                   ? MPI_Isend(data, int(bytes), MPI_BYTE, m.peer, m.tag,
                               dataComm, &request)
                   : MPI_Irecv(data, int(bytes), MPI_BYTE, m.peer, m.tag,
                               dataComm, &request);
      if (rc != MPI_SUCCESS)
        return fatalMpi(rc, "posting " + describe(transfers[t]));
      requests.push_back(request);
      requestTransfer.push_back(int(t));
      requestBytes.push_back(bytes);
      ++stream.chunksLeft[t];
      offset += bytes;
    } while (offset < m.bytes);
  }

  size_t pending = requests.size();
  stream.completedIndices.resize(requests.size());
  stream.statuses.resize(requests.size());
  Backoff backoff;
  while (pending > 0) {
    int count = 0;
    int rc =
        MPI_Testsome(int(requests.size()), requests.data(), &count,
                     stream.completedIndices.data(), stream.statuses.data());
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)
      return fatalMpi(rc, "completing a p2p group");
    if (count == MPI_UNDEFINED)
      break;
    if (count > 0) {
      int64_t nowNs = monotonicNs();
      for (int i = 0; i < count; ++i) {
        int index = stream.completedIndices[i];
        int t = requestTransfer[index];
        const Transfer &transfer = transfers[size_t(t)];
        const MPI_Status &status = stream.statuses[i];
        if (rc == MPI_ERR_IN_STATUS && status.MPI_ERROR != MPI_SUCCESS) {
          // A mismatched size leaves MPI usable: fail the step, drain.
          failLocal(Failure{PWRT_ERROR_MPI, myRank, -1,
                            status.MPI_ERROR != MPI_ERR_TRUNCATE, wallNs(),
                            fmt::format("rank {}: {} failed: {}", myRank,
                                        describe(transfer),
                                        mpi::errorString(status.MPI_ERROR))});
        } else if (!transfer.isSend) {
          int received = 0;
          MPI_Get_count(&status, MPI_BYTE, &received);
          if (size_t(received) != requestBytes[index])
            failLocal(Failure{
                PWRT_ERROR_MPI, myRank, -1, false, wallNs(),
                fmt::format("rank {}: {} received {} bytes: the sender sent "
                            "a message of another size",
                            myRank, describe(transfer), received)});
        }
        --pending;
        if (--stream.chunksLeft[t] == 0 && tracing) {
          Slice slice;
          slice.kind = transfer.isSend ? SliceKind::Send : SliceKind::Recv;
          slice.beginNs = stream.transferBeginNs[t] - originNs;
          slice.endNs = nowNs - originNs;
          slice.step = currentStep.load(std::memory_order_relaxed);
          slice.bytes = int64_t(transfer.message.bytes);
          slice.stage = transfer.message.stage;
          slice.microbatch = transfer.message.microbatch;
          slice.peer = transfer.message.peer;
          slice.tag = transfer.message.tag;
          slice.detail = uint8_t(transfer.message.payload);
          stream.slices.push_back(slice);
        }
      }
      backoff.reset();
      continue;
    }
    if (mode.load(std::memory_order_relaxed) == kAborting)
      return; // abandoned; the process will not finalize MPI
    if (backoff.idleNs() > timeoutNs) {
      // Name every peer this group still waits on; the first is the one
      // reported as lost.
      std::vector<int> peers;
      std::string waiting;
      for (size_t r = 0; r < requests.size(); ++r) {
        if (requests[r] == MPI_REQUEST_NULL)
          continue;
        const Transfer &transfer = transfers[size_t(requestTransfer[r])];
        if (std::find(peers.begin(), peers.end(), transfer.message.peer) !=
            peers.end())
          continue;
        peers.push_back(transfer.message.peer);
        waiting += (waiting.empty() ? "" : ", ") + describe(transfer);
      }
      failPeersLost(peers,
                    fmt::format("{} on stream '{}'", waiting, stream.name));
      return;
    }
    backoff.pause();
  }
  // A peer that failed may have sent what its failed kernel never wrote:
  // look for its report before compute uses the data (it was sent first).
  bool receives = std::any_of(transfers.begin(), transfers.end(),
                              [](const Transfer &t) { return !t.isSend; });
  if (receives && numRanks > 1) {
    std::lock_guard<std::mutex> lock(controlMutex);
    pollControlLocked();
  }
}

/// "22, 18": one count per group rank, for messages.
std::string formatCounts(const std::vector<int64_t> &counts) {
  std::string text;
  for (size_t i = 0; i < counts.size(); ++i)
    text += fmt::format("{}{}", i ? ", " : "", counts[i]);
  return text;
}

/// Where `bytes` of rows land: a row capacity check without overflow.
bool rowsFit(size_t capacity, size_t headerBytes, int64_t rows,
             size_t rowBytes) {
  return capacity >= headerBytes &&
         uint64_t(rows) <= (capacity - headerBytes) / rowBytes;
}

/// "{0, 1}".
std::string formatMembers(const std::vector<int> &members) {
  std::string text = "{";
  for (size_t i = 0; i < members.size(); ++i)
    text += fmt::format("{}{}", i ? ", " : "", members[i]);
  return text + "}";
}

void HostBackend::runAllToAll(Stream &stream, const Op &op) {
  const AllToAllOp &a2a = op.allToAll;
  const pwrt_all_to_all_args &args = a2a.args;
  const size_t size = a2a.members.size();
  const size_t me = size_t(a2a.groupRank);
  const size_t rowBytes = args.row_bytes;
  const size_t headerBytes = size * sizeof(int64_t);
  MPI_Comm comm = groups[size_t(a2a.group)].comm;
  // Each all-to-all of a group has two tags, counts then rows, from its
  // sequence number (several may be in flight between the same ranks).
  const uint64_t tagPairs = uint64_t(tagUpperBound) / 2 + 1;
  const int countsTag = int(2 * (op.ticket % tagPairs));
  const int rowsTag = countsTag + 1;
  const int64_t beginNs = monotonicNs();

  std::string where = fmt::format(
      "all-to-all{}{} ({}) at stage {}, micro-batch {}{} on stream '{}'",
      a2a.name.empty() ? "" : " '", a2a.name.empty() ? "" : a2a.name + "'",
      actionKindName(args.kind), args.stage, args.microbatch,
      layerText(args.layer), stream.name);
  // After a failure anywhere the rows mean nothing: send none, report no
  // further problems, but take part so that no peer waits.
  auto stepFailed = [&] {
    return mode.load(std::memory_order_relaxed) != kRunning;
  };
  auto fail = [&](pwrt_status status, const std::string &what) {
    if (!stepFailed())
      failLocal(Failure{status, myRank, -1, false, wallNs(),
                        fmt::format("rank {}: {}: {}", myRank, where, what)});
  };
  auto fatalMpi = [&](int rc, const std::string &what) {
    failLocal(Failure{PWRT_ERROR_MPI, myRank, -1, true, wallNs(),
                      fmt::format("rank {}: {} {}: {}", myRank, what, where,
                                  mpi::errorString(rc))});
  };

  // What this rank sends, from the send buffer's header.
  std::vector<int64_t> sendCounts(size, 0);
  if (!stepFailed()) {
    std::memcpy(sendCounts.data(), args.send, headerBytes);
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
      total += std::min<int64_t>(sendCounts[peer], INT64_MAX / 2);
      total = std::min<int64_t>(total, INT64_MAX / 2);
      if (rowsFit(args.send_bytes, headerBytes, total, rowBytes))
        continue;
      status = PWRT_ERROR_CAPACITY_EXCEEDED;
      problem = fmt::format(
          "the send header lists {} rows of {} bytes (rows for group ranks "
          "0..{}: {}) but the send buffer holds {} bytes ({} rows after the "
          "{}-byte header)",
          std::accumulate(sendCounts.begin(), sendCounts.end(), uint64_t(0)),
          rowBytes, size - 1, formatCounts(sendCounts), args.send_bytes,
          (args.send_bytes - headerBytes) / rowBytes, headerBytes);
    }
    if (!problem.empty()) {
      fail(status, problem);
      std::fill(sendCounts.begin(), sendCounts.end(), 0);
    }
  }
  std::vector<size_t> sendOffsets(size);
  for (size_t peer = 0, offset = headerBytes; peer < size; ++peer) {
    sendOffsets[peer] = offset;
    offset += size_t(sendCounts[peer]) * rowBytes;
  }

  // Requests and what each is for, to name the peers still waited on.
  enum class Part : uint8_t { CountsIn, CountsOut, RowsIn, RowsOut };
  struct Pending {
    size_t peer; // group rank
    Part part;
    size_t bytes;
  };
  std::vector<MPI_Request> requests;
  std::vector<Pending> pending;
  // Per peer: its row count and row size, sent ahead of the rows.
  auto &countsOut = stream.countsOut, &countsIn = stream.countsIn;
  countsOut.assign(size, {0, 0});
  countsIn.assign(size, {0, 0});
  auto post = [&](bool isSend, void *data, size_t bytes, size_t peer, int tag,
                  Part part) {
    do {
      size_t chunk = std::min(kChunkBytes, bytes);
      MPI_Request request;
      int rank = a2a.members[peer];
      int rc = isSend ? MPI_Isend(data, int(chunk), MPI_BYTE, rank, tag, comm,
                                  &request)
                      : MPI_Irecv(data, int(chunk), MPI_BYTE, rank, tag, comm,
                                  &request);
      if (rc != MPI_SUCCESS) {
        fatalMpi(rc, fmt::format("posting a message to rank {} of", rank));
        return false;
      }
      requests.push_back(request);
      pending.push_back(Pending{peer, part, chunk});
      data = static_cast<char *>(data) + chunk;
      bytes -= chunk;
    } while (bytes > 0);
    return true;
  };

  size_t countsLeft = 0;
  for (size_t peer = 0; peer < size; ++peer) {
    if (peer == me)
      continue;
    countsOut[peer] = {sendCounts[peer], int64_t(rowBytes)};
    if (!post(false, countsIn[peer].data(), sizeof(countsIn[peer]), peer,
              countsTag, Part::CountsIn) ||
        !post(true, countsOut[peer].data(), sizeof(countsOut[peer]), peer,
              countsTag, Part::CountsOut))
      return;
    ++countsLeft;
    if (sendCounts[peer] > 0 &&
        !post(true,
              const_cast<char *>(static_cast<const char *>(args.send)) +
                  sendOffsets[peer],
              size_t(sendCounts[peer]) * rowBytes, peer, rowsTag,
              Part::RowsOut))
      return;
  }

  // Once every count is in: where the rows go, then post their receives.
  std::vector<int64_t> recvCounts(size, 0);
  std::vector<char> &scratch = stream.overflow;
  auto receiveRows = [&] {
    recvCounts[me] = sendCounts[me];
    size_t scratchBytes = 0;
    std::string mismatch;
    for (size_t peer = 0; peer < size; ++peer) {
      if (peer == me)
        continue;
      recvCounts[peer] = countsIn[peer][0];
      scratchBytes += size_t(countsIn[peer][0]) * size_t(countsIn[peer][1]);
      if (countsIn[peer][0] > 0 && size_t(countsIn[peer][1]) != rowBytes &&
          mismatch.empty())
        mismatch =
            fmt::format("group rank {} (rank {}) sends rows of {} "
                        "bytes, this rank's rows have {} bytes",
                        peer, a2a.members[peer], countsIn[peer][1], rowBytes);
    }
    int64_t total =
        std::accumulate(recvCounts.begin(), recvCounts.end(), int64_t(0));
    bool fits = mismatch.empty() &&
                rowsFit(args.recv_bytes, headerBytes, total, rowBytes);
    if (!mismatch.empty())
      fail(PWRT_ERROR_INVALID_ARGUMENT, mismatch);
    else if (!fits)
      fail(PWRT_ERROR_CAPACITY_EXCEEDED,
           fmt::format("{} rows of {} bytes arrive (rows from group ranks "
                       "0..{}: {}) but the receive buffer holds {} bytes ({} "
                       "rows after the {}-byte header)",
                       total, rowBytes, size - 1, formatCounts(recvCounts),
                       args.recv_bytes,
                       (args.recv_bytes - headerBytes) / rowBytes,
                       headerBytes));
    std::memcpy(args.recv, recvCounts.data(), headerBytes);
    if (!fits)
      scratch.resize(scratchBytes);
    char *target =
        fits ? static_cast<char *>(args.recv) + headerBytes : scratch.data();
    for (size_t peer = 0; peer < size; ++peer) {
      size_t bytes =
          peer == me ? size_t(sendCounts[me]) * rowBytes
                     : size_t(countsIn[peer][0]) * size_t(countsIn[peer][1]);
      if (bytes == 0)
        continue;
      if (peer == me) {
        if (fits)
          std::memcpy(target,
                      static_cast<const char *>(args.send) + sendOffsets[me],
                      bytes);
      } else if (!post(false, target, bytes, peer, rowsTag, Part::RowsIn)) {
        return false;
      }
      if (fits || peer != me)
        target += bytes;
    }
    return true;
  };
  bool rowsPosted = false;
  if (countsLeft == 0) {
    if (!receiveRows())
      return;
    rowsPosted = true;
  }

  std::vector<int> indices;
  std::vector<MPI_Status> statuses;
  Backoff backoff;
  for (;;) {
    indices.resize(requests.size());
    statuses.resize(requests.size());
    int count = 0;
    int rc = requests.empty()
                 ? MPI_SUCCESS
                 : MPI_Testsome(int(requests.size()), requests.data(), &count,
                                indices.data(), statuses.data());
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)
      return fatalMpi(rc, "completing");
    if (requests.empty() || count == MPI_UNDEFINED) {
      if (rowsPosted)
        break;
      count = 0;
    }
    for (int i = 0; i < count; ++i) {
      const Pending &done = pending[size_t(indices[size_t(i)])];
      const MPI_Status &status = statuses[size_t(i)];
      int rank = a2a.members[done.peer];
      if (rc == MPI_ERR_IN_STATUS && status.MPI_ERROR != MPI_SUCCESS) {
        failLocal(Failure{PWRT_ERROR_MPI, myRank, -1,
                          status.MPI_ERROR != MPI_ERR_TRUNCATE, wallNs(),
                          fmt::format("rank {}: {}: a message with rank {} "
                                      "failed: {}",
                                      myRank, where, rank,
                                      mpi::errorString(status.MPI_ERROR))});
      } else if (done.part == Part::CountsIn || done.part == Part::RowsIn) {
        int received = 0;
        MPI_Get_count(&status, MPI_BYTE, &received);
        if (size_t(received) != done.bytes)
          failLocal(
              Failure{PWRT_ERROR_MPI, myRank, -1, false, wallNs(),
                      fmt::format("rank {}: {}: received {} bytes from "
                                  "rank {} where {} were announced",
                                  myRank, where, received, rank, done.bytes)});
      }
      if (done.part == Part::CountsIn)
        --countsLeft;
    }
    if (count > 0)
      backoff.reset();
    if (!rowsPosted && countsLeft == 0) {
      if (!receiveRows())
        return;
      rowsPosted = true;
      continue;
    }
    if (count > 0)
      continue;
    if (mode.load(std::memory_order_relaxed) == kAborting)
      return; // abandoned; the process will not finalize MPI
    if (backoff.idleNs() > timeoutNs) {
      // Name every peer still waited on; the first is reported as lost.
      std::vector<int> peers;
      std::string waiting;
      for (size_t r = 0; r < requests.size(); ++r) {
        if (requests[r] == MPI_REQUEST_NULL)
          continue;
        int rank = a2a.members[pending[r].peer];
        if (std::find(peers.begin(), peers.end(), rank) != peers.end())
          continue;
        peers.push_back(rank);
        const char *what[] = {"row counts from", "row counts to", "rows from",
                              "rows to"};
        waiting += fmt::format("{}{} rank {}", waiting.empty() ? "" : ", ",
                               what[int(pending[r].part)], rank);
      }
      failPeersLost(peers, fmt::format("{} in group {} ({})", where,
                                       formatMembers(a2a.members), waiting));
      return;
    }
    backoff.pause();
  }

  if (tracing) {
    Slice slice;
    slice.kind = SliceKind::AllToAll;
    slice.beginNs = beginNs - originNs;
    slice.endNs = monotonicNs() - originNs;
    slice.step = currentStep.load(std::memory_order_relaxed);
    slice.bytes = int64_t(rowBytes);
    slice.stage = args.stage;
    slice.microbatch = args.microbatch;
    slice.peer = a2a.group;
    slice.layer = args.layer;
    slice.detail = uint8_t(args.kind);
    slice.label = op.label;
    slice.rowsSent =
        std::accumulate(sendCounts.begin(), sendCounts.end(), int64_t(0));
    slice.rowsReceived =
        std::accumulate(recvCounts.begin(), recvCounts.end(), int64_t(0));
    stream.slices.push_back(slice);
  }
  // A peer that failed may have sent rows its failed kernel never wrote:
  // look for its report before compute uses them (it was sent first).
  if (size > 1) {
    std::lock_guard<std::mutex> lock(controlMutex);
    pollControlLocked();
  }
}

bool HostBackend::streamsIdle() const {
  for (const auto &stream : streams)
    if (stream->completed.load(std::memory_order_acquire) != stream->enqueued)
      return false;
  return true;
}

void HostBackend::stopStreams(bool fatalStop) {
  for (auto &stream : streams) {
    {
      std::lock_guard<std::mutex> lock(stream->mutex);
      stream->stop = true;
      if (fatalStop)
        stream->queue.clear();
    }
    stream->wakeup.notify_one();
  }
  // A worker stuck in a kernel cannot be joined; after a fatal error give
  // the others a moment and leave that one to process exit.
  int64_t deadlineNs = monotonicNs() + 1'000'000'000;
  for (auto &stream : streams) {
    if (!stream->thread.joinable())
      continue;
    if (fatalStop) {
      while (!stream->exited.load() && monotonicNs() < deadlineNs)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!stream->exited.load()) {
        stream->thread.detach();
        stuckThreads = true;
        continue;
      }
    }
    stream->thread.join();
  }
}

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

void HostBackend::failLocal(Failure failure) {
  {
    std::lock_guard<std::mutex> lock(failureMutex);
    if (failure.fatal) {
      if (fatal)
        return;
      if (failure.lostRank >= 0)
        lostRanks.push_back(failure.lostRank);
      fatal = failure;
      fatalReportPending = numRanks > 1;
      mode.store(kAborting);
    } else {
      if (!localFailure) {
        localFailure = failure;
        localReportPending = numRanks > 1;
      }
      int expected = kRunning;
      mode.compare_exchange_strong(expected, kDraining);
    }
  }
  progress.notify();
  // Tell the peers before this stream goes on (and, say, sends the output
  // the failed kernel never wrote): they stop running kernels on it.
  if (numRanks > 1) {
    std::lock_guard<std::mutex> lock(controlMutex);
    sendPendingReportsLocked();
  }
}

void HostBackend::failRemoteFatal(const ReportMessage &report) {
  std::lock_guard<std::mutex> lock(failureMutex);
  if (report.lostRank >= 0)
    lostRanks.push_back(report.lostRank);
  // A dead sender cannot be waited for at shutdown either.
  if (!fatal) {
    fatal = Failure{pwrt_status(report.status),
                    report.sender,
                    report.lostRank,
                    true,
                    report.wallNs,
                    report.message};
    mode.store(kAborting);
  }
  progress.notify();
}

Error HostBackend::fatalError() {
  std::lock_guard<std::mutex> lock(failureMutex);
  if (!fatal)
    return Error::ok();
  return Error(fatal->status, fatal->message, /*fatal=*/true);
}

bool HostBackend::isLost(int rank) {
  std::lock_guard<std::mutex> lock(failureMutex);
  return std::find(lostRanks.begin(), lostRanks.end(), rank) != lostRanks.end();
}

void HostBackend::failStep(pwrt_status status, const std::string &message) {
  failLocal(Failure{status, myRank, -1, false, wallNs(),
                    fmt::format("rank {}: {}", myRank, message)});
}

void HostBackend::abandonStep(const std::string &why) {
  failLocal(Failure{PWRT_ERROR_INVALID_STATE, myRank, -1, true, wallNs(),
                    fmt::format("rank {}: {}", myRank, why)});
}

//===----------------------------------------------------------------------===//
// Control plane
//===----------------------------------------------------------------------===//

void HostBackend::kickMonitor() {
  {
    std::lock_guard<std::mutex> lock(monitorMutex);
    monitorKicked = true;
  }
  monitorWakeup.notify_one();
}

void HostBackend::monitorLoop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(monitorMutex);
      // A step needs a steady watch (reports, kernel timeouts); between
      // steps nothing can happen.
      if (stepActive.load())
        monitorWakeup.wait_for(lock, std::chrono::milliseconds(1),
                               [this] { return monitorKicked || monitorStop; });
      else
        monitorWakeup.wait(lock, [this] {
          return monitorKicked || monitorStop || stepActive.load();
        });
      if (monitorStop)
        return;
      monitorKicked = false;
    }
    if (numRanks > 1) {
      std::lock_guard<std::mutex> lock(controlMutex);
      sendPendingReportsLocked();
      pollControlLocked();
    }
    checkKernelTimeouts();
  }
}

void HostBackend::checkKernelTimeouts() {
  if (mode.load() == kAborting)
    return;
  int64_t nowNs = monotonicNs();
  for (const auto &stream : streams) {
    int64_t startNs = stream->kernelStartNs.load(std::memory_order_acquire);
    if (startNs == 0 || nowNs - startNs <= timeoutNs)
      continue;
    int32_t kernel = stream->kernelId.load(std::memory_order_relaxed);
    failLocal(Failure{
        PWRT_ERROR_TIMEOUT, myRank, -1, true, wallNs(),
        fmt::format(
            "rank {}: kernel '{}' at stage {}, micro-batch {}{} ({}) "
            "on stream '{}' is still running after {:.1f} s",
            myRank, kernels[size_t(kernel)].name,
            stream->kernelStage.load(std::memory_order_relaxed),
            stream->kernelMicrobatch.load(std::memory_order_relaxed),
            layerText(stream->kernelLayer.load(std::memory_order_relaxed)),
            actionKindName(pwrt_action_kind(
                stream->kernelKind.load(std::memory_order_relaxed))),
            stream->name, options.timeoutSeconds)});
    return;
  }
}

void HostBackend::sendReportLocked(const Failure *failure, bool fatalReport) {
  auto report = std::make_unique<ReportMessage>();
  std::memset(report.get(), 0, sizeof(ReportMessage));
  report->step = currentStep.load();
  report->sender = myRank;
  report->lostRank = -1;
  if (failure) {
    report->hasFailure = 1;
    report->status = failure->status;
    report->fatal = fatalReport;
    report->lostRank = failure->lostRank;
    report->wallNs = failure->wallNs;
    std::snprintf(report->message, sizeof(report->message), "%s",
                  failure->message.c_str());
  }
  for (int peer = 0; peer < numRanks; ++peer) {
    if (peer == myRank || isLost(peer))
      continue;
    // One buffer per peer: MPI may read each until its send completes.
    auto copy = std::make_unique<ReportMessage>(*report);
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Isend(copy.get(), sizeof(ReportMessage), MPI_BYTE, peer, kReportTag,
                  controlComm, &request) == MPI_SUCCESS)
      outgoing.emplace_back(request, std::move(copy));
  }
}

void HostBackend::sendPendingReportsLocked() {
  std::optional<Failure> toSend;
  bool sendFatal = false;
  {
    std::lock_guard<std::mutex> lock(failureMutex);
    if (fatalReportPending && fatal) {
      toSend = fatal;
      sendFatal = true;
      fatalReportPending = false;
    } else if (localReportPending && localFailure &&
               reportSentForStep != currentStep.load()) {
      toSend = localFailure;
      localReportPending = false;
    }
  }
  if (!toSend)
    return;
  if (!sendFatal)
    reportSentForStep = currentStep.load();
  sendReportLocked(&*toSend, sendFatal);
}

void HostBackend::pollControlLocked() {
  for (;;) {
    int done = 0;
    if (reportRequest == MPI_REQUEST_NULL ||
        MPI_Test(&reportRequest, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS ||
        !done)
      break;
    ReportMessage report = reportIn;
    MPI_Irecv(&reportIn, sizeof(ReportMessage), MPI_BYTE, MPI_ANY_SOURCE,
              kReportTag, controlComm, &reportRequest);
    handleReportLocked(report);
  }
  // Release the report sends that completed.
  auto finished =
      std::remove_if(outgoing.begin(), outgoing.end(), [](auto &entry) {
        int done = 0;
        MPI_Test(&entry.first, &done, MPI_STATUS_IGNORE);
        return done != 0;
      });
  outgoing.erase(finished, outgoing.end());
}

void HostBackend::handleReportLocked(const ReportMessage &report) {
  if (report.sender < 0 || report.sender >= numRanks)
    return;
  if (report.fatal) {
    failRemoteFatal(report);
    return;
  }
  if (report.step < currentStep.load())
    return; // settled already
  auto &slot = reports[report.step];
  slot.resize(size_t(numRanks));
  slot[size_t(report.sender)] = report;
  if (report.hasFailure && report.step == currentStep.load() &&
      stepActive.load()) {
    int expected = kRunning;
    mode.compare_exchange_strong(expected, kDraining);
    progress.notify();
  }
}

//===----------------------------------------------------------------------===//
// Steps (host thread)
//===----------------------------------------------------------------------===//

Error HostBackend::stepBegin(uint64_t step) {
  if (Error error = fatalError())
    return error;
  {
    std::lock_guard<std::mutex> control(controlMutex);
    std::lock_guard<std::mutex> lock(failureMutex);
    currentStep.store(step);
    localFailure.reset();
    localReportPending = false;
    mode.store(kRunning);
    // A faster peer may have failed this step already.
    auto found = reports.find(step);
    if (found != reports.end())
      for (const auto &report : found->second)
        if (report && report->hasFailure)
          mode.store(kDraining);
  }
  stepBeginNs = monotonicNs();
  stepActive.store(true);
  kickMonitor();
  return Error::ok();
}

Error HostBackend::agreeOnStep() {
  uint64_t step = currentStep.load();
  Backoff backoff;
  int64_t lastCount = -1;
  for (;;) {
    if (Error error = fatalError())
      return error;
    std::vector<int> missing;
    {
      std::lock_guard<std::mutex> lock(controlMutex);
      if (reportSentForStep != step) {
        std::optional<Failure> failure;
        {
          std::lock_guard<std::mutex> lock(failureMutex);
          failure = localFailure;
          localReportPending = false;
        }
        reportSentForStep = step;
        sendReportLocked(failure ? &*failure : nullptr, false);
      }
      pollControlLocked();
      auto &slot = reports[step];
      slot.resize(size_t(numRanks));
      for (int peer = 0; peer < numRanks; ++peer)
        if (peer != myRank && !slot[size_t(peer)])
          missing.push_back(peer);
    }
    if (missing.empty())
      return Error::ok();
    if (int64_t(missing.size()) != lastCount) {
      lastCount = int64_t(missing.size());
      backoff.reset();
    }
    if (backoff.idleNs() > timeoutNs) {
      std::string who = fmt::format("rank {}", missing.front());
      for (size_t i = 1; i < missing.size(); ++i)
        who += fmt::format(", rank {}", missing[i]);
      failLocal(Failure{
          PWRT_ERROR_PEER_LOST, myRank, missing.front(), true, wallNs(),
          fmt::format("rank {}: no progress for {:.1f} s while waiting on {} "
                      "to finish step {}; presumed lost",
                      myRank, options.timeoutSeconds, who, step)});
      return fatalError();
    }
    backoff.pause();
  }
}

Error HostBackend::stepEnd() {
  // Wait for every stream to run what it was given. After a fatal error
  // the workers skip their work; one stuck in a kernel is not waited for.
  int64_t abortDeadlineNs = 0;
  spinUntil([&] { return streamsIdle(); }, kSpinNs);
  for (;;) {
    uint32_t epoch = progress.epoch();
    if (streamsIdle())
      break;
    if (mode.load() == kAborting) {
      if (abortDeadlineNs == 0)
        abortDeadlineNs = monotonicNs() + 1'000'000'000;
      if (monotonicNs() > abortDeadlineNs)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    progress.waitChange(epoch);
  }

  Error outcome;
  if (numRanks > 1 && mode.load() != kAborting)
    outcome = agreeOnStep();
  if (Error error = fatalError()) {
    outcome = error;
  } else {
    // Every rank has every report now and picks the same failure: the
    // earliest; the others are listed after it.
    std::vector<Failure> failures;
    {
      std::lock_guard<std::mutex> control(controlMutex);
      std::lock_guard<std::mutex> lock(failureMutex);
      if (localFailure)
        failures.push_back(*localFailure);
      auto found = reports.find(currentStep.load());
      if (found != reports.end()) {
        for (const auto &report : found->second)
          if (report && report->hasFailure)
            failures.push_back(Failure{pwrt_status(report->status),
                                       report->sender, report->lostRank, false,
                                       report->wallNs, report->message});
        reports.erase(found);
      }
    }
    if (!failures.empty()) {
      std::sort(failures.begin(), failures.end(),
                [](const Failure &a, const Failure &b) {
                  return std::tie(a.wallNs, a.origin) <
                         std::tie(b.wallNs, b.origin);
                });
      std::string message = failures.front().message;
      for (size_t i = 1; i < failures.size(); ++i)
        message += fmt::format("; then {}", failures[i].message);
      outcome = Error(failures.front().status, std::move(message));
    }
  }

  stepActive.store(false);
  if (tracing) {
    Slice slice;
    slice.kind = SliceKind::Step;
    slice.beginNs = stepBeginNs - originNs;
    slice.endNs = monotonicNs() - originNs;
    slice.step = currentStep.load();
    stepSlices.push_back(slice);
  }
  return outcome;
}

//===----------------------------------------------------------------------===//
// Shutdown
//===----------------------------------------------------------------------===//

Error HostBackend::shutdown() {
  if (shutDown)
    return fatalError();
  shutDown = true;
  mpi::release();
  bool fatalStop = mode.load() == kAborting;
  stopStreams(fatalStop);
  {
    std::lock_guard<std::mutex> lock(monitorMutex);
    monitorStop = true;
  }
  monitorWakeup.notify_one();
  if (monitor.joinable())
    monitor.join();

  if (Error error = fatalError()) {
    // Peers that still run get a moment to print their error before this
    // rank exits (the launcher may kill the job on the first exit): wait
    // for a "bye" from each, briefly.
    mpi::markBroken();
    std::vector<MPI_Request> requests;
    std::vector<char> byes(static_cast<size_t>(numRanks));
    static char bye = 1; // outlives the freed send request
    for (int peer = 0; peer < numRanks; ++peer) {
      if (peer == myRank || isLost(peer))
        continue;
      MPI_Request request;
      MPI_Isend(&bye, 1, MPI_CHAR, peer, kByeTag, controlComm, &request);
      MPI_Request_free(&request);
      MPI_Irecv(&byes[size_t(peer)], 1, MPI_CHAR, peer, kByeTag, controlComm,
                &request);
      requests.push_back(request);
    }
    int64_t deadlineNs =
        monotonicNs() + std::min<int64_t>(timeoutNs, 5'000'000'000);
    int done = requests.empty();
    while (!done && monotonicNs() < deadlineNs) {
      MPI_Testall(int(requests.size()), requests.data(), &done,
                  MPI_STATUSES_IGNORE);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return error;
  }

  Error result;
  if (reportRequest != MPI_REQUEST_NULL) {
    MPI_Cancel(&reportRequest);
    MPI_Wait(&reportRequest, MPI_STATUS_IGNORE);
  }
  for (auto &entry : outgoing)
    if (Error error = waitForRequest(entry.first, "sending a step report"))
      result = error;
  outgoing.clear();

  if (tracing && !result) {
    std::vector<StreamTrace> streamTraces;
    for (const auto &stream : streams)
      streamTraces.push_back(StreamTrace{stream->name, &stream->slices});
    std::string mine =
        renderRankTrace(myRank, streamTraces, stepSlices, kernels, labels);
    // Gather to rank 0 only: the trace can be large.
    long long length = (long long)mine.size();
    std::vector<long long> lengths(static_cast<size_t>(numRanks));
    MPI_Request request;
    MPI_Igather(&length, 1, MPI_LONG_LONG, lengths.data(), 1, MPI_LONG_LONG, 0,
                collectiveComm, &request);
    result = waitForRequest(request, "gathering the trace");
    if (!result) {
      std::vector<int> counts(static_cast<size_t>(numRanks)),
          offsets(static_cast<size_t>(numRanks));
      long long total = 0;
      for (int r = 0; r < numRanks; ++r) {
        offsets[size_t(r)] = int(total);
        counts[size_t(r)] = int(lengths[size_t(r)]);
        total += lengths[size_t(r)];
      }
      if (total > INT32_MAX) {
        result = makeError(PWRT_ERROR_IO, "the trace is larger than 2 GiB");
      } else {
        std::string gathered(myRank == 0 ? size_t(total) : 0, '\0');
        MPI_Igatherv(mine.data(), int(mine.size()), MPI_CHAR, gathered.data(),
                     counts.data(), offsets.data(), MPI_CHAR, 0, collectiveComm,
                     &request);
        result = waitForRequest(request, "gathering the trace");
        if (!result && myRank == 0) {
          std::vector<std::string> perRank;
          for (int r = 0; r < numRanks; ++r)
            perRank.push_back(gathered.substr(size_t(offsets[size_t(r)]),
                                              size_t(counts[size_t(r)])));
          result = writeTraceFile(options.tracePath, perRank);
        }
      }
    }
  }

  // Nobody leaves before everybody is done: a rank exiting early (with an
  // error status) makes mpirun kill the others.
  MPI_Request barrier;
  MPI_Ibarrier(collectiveComm, &barrier);
  if (Error error = waitForRequest(barrier, "the shutdown barrier")) {
    mpi::markBroken();
    return error;
  }
  for (Group &group : groups)
    MPI_Comm_free(&group.comm);
  for (MPI_Comm *comm : {&dataComm, &controlComm, &collectiveComm})
    if (*comm != MPI_COMM_NULL)
      MPI_Comm_free(comm);
  return result;
}

} // namespace

std::unique_ptr<Backend> createHostBackend(const ResolvedOptions &options,
                                           const KernelTable &kernels,
                                           Error &error) {
  auto backend = std::make_unique<HostBackend>(options, kernels);
  error = backend->initialize();
  if (error)
    return nullptr;
  return backend;
}

} // namespace pwrt
