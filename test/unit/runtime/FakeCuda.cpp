//===- FakeCuda.cpp - The CUDA runtime and NCCL calls of pwrt, on the CPU -===//
//
// Linked into a test program, these definitions take the place of the
// CUDA runtime's and NCCL's (the program's own symbols win over the shared
// libraries'), so that the CUDA backend's host logic runs on a machine
// without a GPU: creation in both modes, the bookkeeping of streams,
// events, markers and groups, the local transport, NCCL groups, the step
// agreement, failures, traces and shutdown.
//
// The model is simple and strict: "device memory" is host memory, and work
// runs when it is enqueued (a kernel is the host function itself, a copy is
// memcpy), so every stream is always idle and every event complete. NCCL
// messages are copied eagerly at ncclGroupEnd into a per-pair queue and
// received in order, as NCCL pairs them; a receive that finds nothing
// within FAKE_NCCL_WAIT_MS (default 3000) leaves the communicator "in
// progress" for good, as a peer that never comes would. FAKE_CUDA_DEVICES
// (default 1) is the number of devices.
//
//===----------------------------------------------------------------------===//

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

struct CUstream_st {
  int device = 0;
  unsigned flags = 0;
};

struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  int64_t ns = 0;
};

namespace {

thread_local int currentDevice = 0;
thread_local cudaError_t lastError = cudaSuccess;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int environmentInt(const char *name, int fallback) {
  const char *text = std::getenv(name);
  return text && *text ? std::atoi(text) : fallback;
}

cudaError_t fail(cudaError_t error) {
  lastError = error;
  return error;
}

/// The ranks of one NCCL id: per (sender, receiver) queue of messages.
struct World {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::pair<int, int>, std::deque<std::vector<char>>> messages;
};

std::mutex worldsMutex;
std::map<uint64_t, std::shared_ptr<World>> worlds;
uint64_t nextId = 1;

struct Operation {
  bool isSend;
  void *data;
  size_t bytes;
  int peer;
  ncclComm_t comm;
};
thread_local int groupDepth = 0;
thread_local std::vector<Operation> groupOperations;

} // namespace

struct ncclComm {
  std::shared_ptr<World> world;
  int rank = 0;
  int size = 1;
  bool stuck = false; // a receive never came: "in progress" for good
};

extern "C" {

//===----------------------------------------------------------------------===//
// CUDA runtime
//===----------------------------------------------------------------------===//

cudaError_t cudaGetDeviceCount(int *count) {
  *count = environmentInt("FAKE_CUDA_DEVICES", 1);
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= environmentInt("FAKE_CUDA_DEVICES", 1))
    return fail(cudaErrorInvalidDevice);
  currentDevice = device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *busId, int length, int device) {
  std::snprintf(busId, size_t(length), "00000000:%02x:00.0", device + 0x10);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaGetLastError(void) {
  cudaError_t error = lastError;
  lastError = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError(void) { return lastError; }

const char *cudaGetErrorName(cudaError_t error) {
  switch (error) {
  case cudaSuccess:
    return "cudaSuccess";
  case cudaErrorInvalidValue:
    return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation:
    return "cudaErrorMemoryAllocation";
  case cudaErrorInvalidDevice:
    return "cudaErrorInvalidDevice";
  case cudaErrorNotReady:
    return "cudaErrorNotReady";
  default:
    return "cudaErrorUnknown";
  }
}

const char *cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "fake CUDA error";
}

cudaError_t cudaMalloc(void **pointer, size_t size) {
  *pointer = std::aligned_alloc(256, (size + 255) / 256 * 256);
  return *pointer ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFree(void *pointer) {
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void **pointer, size_t size) {
  return cudaMalloc(pointer, size);
}

cudaError_t cudaFreeHost(void *pointer) { return cudaFree(pointer); }

cudaError_t cudaMemset(void *pointer, int value, size_t count) {
  std::memset(pointer, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *pointer, int value, size_t count,
                            cudaStream_t) {
  std::memset(pointer, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *to, const void *from, size_t count,
                       enum cudaMemcpyKind) {
  std::memmove(to, from, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *to, const void *from, size_t count,
                            enum cudaMemcpyKind, cudaStream_t) {
  std::memmove(to, from, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyPeerAsync(void *to, int, const void *from, int,
                                size_t count, cudaStream_t) {
  std::memmove(to, from, count);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags) {
  *stream = new CUstream_st{currentDevice, flags};
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t event, unsigned) {
  return event ? cudaSuccess : fail(cudaErrorInvalidValue);
}

cudaError_t cudaEventCreate(cudaEvent_t *event) {
  *event = new CUevent_st{};
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned flags) {
  *event = new CUevent_st{flags, false, 0};
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  event->recorded = true;
  event->ns = nowNs();
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start,
                                 cudaEvent_t end) {
  if ((start->flags | end->flags) & cudaEventDisableTiming ||
      !start->recorded || !end->recorded)
    return fail(cudaErrorInvalidValue);
  *ms = float(double(end->ns - start->ns) / 1e6);
  return cudaSuccess;
}

//===----------------------------------------------------------------------===//
// NCCL
//===----------------------------------------------------------------------===//

const char *ncclGetErrorString(ncclResult_t result) {
  return result == ncclSuccess ? "no error" : "fake NCCL error";
}

const char *ncclGetLastError(ncclComm_t) { return "fake NCCL"; }

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  std::lock_guard<std::mutex> lock(worldsMutex);
  std::memset(id->internal, 0, sizeof(id->internal));
  uint64_t value = nextId++;
  std::memcpy(id->internal, &value, sizeof(value));
  return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int size, ncclUniqueId id,
                                    int rank, ncclConfig_t *config) {
  uint64_t value = 0;
  std::memcpy(&value, id.internal, sizeof(value));
  std::lock_guard<std::mutex> lock(worldsMutex);
  std::shared_ptr<World> &world = worlds[value];
  if (!world)
    world = std::make_shared<World>();
  *comm = new ncclComm{world, rank, size, false};
  return config && config->blocking == 0 ? ncclInProgress : ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *state) {
  *state = comm->stuck ? ncclInProgress : ncclSuccess;
  return ncclSuccess;
}

ncclResult_t ncclCommFinalize(ncclComm_t) { return ncclSuccess; }

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclGroupStart(void) {
  ++groupDepth;
  return ncclSuccess;
}

static ncclResult_t runOperations(std::vector<Operation> operations) {
  for (const Operation &op : operations) {
    if (!op.isSend)
      continue;
    World &world = *op.comm->world;
    std::lock_guard<std::mutex> lock(world.mutex);
    const char *data = static_cast<const char *>(op.data);
    world.messages[{op.comm->rank, op.peer}].emplace_back(data,
                                                          data + op.bytes);
    world.changed.notify_all();
  }
  auto wait =
      std::chrono::milliseconds(environmentInt("FAKE_NCCL_WAIT_MS", 3000));
  for (const Operation &op : operations) {
    if (op.isSend)
      continue;
    World &world = *op.comm->world;
    std::unique_lock<std::mutex> lock(world.mutex);
    auto &queue = world.messages[{op.peer, op.comm->rank}];
    if (!world.changed.wait_for(lock, wait, [&] { return !queue.empty(); })) {
      op.comm->stuck = true;
      return ncclInProgress;
    }
    std::vector<char> message = std::move(queue.front());
    queue.pop_front();
    std::memcpy(op.data, message.data(), std::min(message.size(), op.bytes));
  }
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void) {
  if (--groupDepth > 0)
    return ncclSuccess;
  std::vector<Operation> operations;
  operations.swap(groupOperations);
  return runOperations(std::move(operations));
}

ncclResult_t ncclSend(const void *data, size_t count, ncclDataType_t, int peer,
                      ncclComm_t comm, cudaStream_t) {
  Operation op{true, const_cast<void *>(data), count, peer, comm};
  if (groupDepth == 0)
    return runOperations({op});
  groupOperations.push_back(op);
  return ncclSuccess;
}

ncclResult_t ncclRecv(void *data, size_t count, ncclDataType_t, int peer,
                      ncclComm_t comm, cudaStream_t) {
  Operation op{false, data, count, peer, comm};
  if (groupDepth == 0)
    return runOperations({op});
  groupOperations.push_back(op);
  return ncclSuccess;
}

} // extern "C"
