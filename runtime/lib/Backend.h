//===- Backend.h - What a runtime backend implements ------------*- C++ -*-===//
//
// The C entry points (Api.cpp) validate arguments and keep the state every
// backend shares (kernel registry, pool bounds, open groups, step state);
// a Backend runs the work: the host backend (HostBackend.cpp: threads and
// MPI) or the CUDA backend (CudaBackend.cpp: CUDA streams and NCCL).
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_BACKEND_H
#define PWRT_LIB_BACKEND_H

#include "Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pwrt {

struct KernelEntry {
  std::string name;
  pwrt_kernel_fn fn = nullptr;
  void *userData = nullptr;
};

/// Registered kernels, indexed by pwrt_kernel. Only changes outside steps,
/// so stream threads read it without locks.
using KernelTable = std::vector<KernelEntry>;

/// A launch as enqueued: the caller's arguments with the three buffer
/// arrays copied into `buffers` (inputs, then outputs, then gradients).
struct LaunchOp {
  pwrt_kernel kernel = -1;
  pwrt_kernel_args args{};
  std::vector<pwrt_buffer> buffers;
};

/// What pwrt_kernel_args::runtime_private points to while a kernel runs.
struct KernelCall {
  std::string message; // from pwrt_kernel_set_error
};

struct Transfer {
  bool isSend = false;
  pwrt_transfer message{};
};

/// An all-to-all as enqueued: the caller's arguments (args.name is not
/// kept: it points into the caller's memory) plus the group's members.
struct AllToAllOp {
  int group = -1;
  pwrt_all_to_all_args args{};
  std::string name;         // args.name, copied ("" if none)
  std::vector<int> members; // ranks of the context, by group rank
  int groupRank = -1;       // this rank's position in `members`
};

/// Options after defaults and the environment are applied.
struct ResolvedOptions {
  pwrt_backend backend = PWRT_BACKEND_HOST;
  int expectedWorldSize = 0;
  double timeoutSeconds = 60;
  std::string tracePath; // empty: no trace
  bool quiet = false;
};

class Backend {
public:
  virtual ~Backend() = default;

  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  /// Largest tag a transfer may use.
  virtual int maxTag() const = 0;

  virtual Error allocatePool(size_t bytes, size_t alignment, void **base) = 0;
  virtual void freePool(void *base) = 0;
  virtual Error createStream(const std::string &name) = 0;
  virtual Error createEvent() = 0;

  /// Collective: every rank's `mine`, indexed by rank.
  virtual Error allGather(const std::string &mine,
                          std::vector<std::string> &all) = 0;

  virtual Error stepBegin(uint64_t step) = 0;
  virtual Error launch(int stream, LaunchOp &&op) = 0;
  virtual Error recordEvent(int stream, int event) = 0;
  virtual Error waitEvent(int stream, int event) = 0;
  virtual Error submitGroup(int stream, std::vector<Transfer> &&group) = 0;
  /// Collective over every rank, outside steps: sets up group number
  /// `group` (the next index) with `members` (ranks, by group rank; this
  /// rank among them). Api.cpp has checked that every rank's groups agree.
  virtual Error createGroup(int group, const std::vector<int> &members) {
    (void)group;
    (void)members;
    return Error(PWRT_ERROR_UNSUPPORTED,
                 "process groups are not supported by this backend");
  }
  /// Enqueues an all-to-all (format and semantics in pwrt.h). Matching is
  /// by order: the n-th all-to-all of a group meets the n-th on every
  /// member, whatever stream each runs on.
  virtual Error allToAll(int stream, AllToAllOp &&op) {
    (void)stream;
    (void)op;
    return Error(PWRT_ERROR_UNSUPPORTED,
                 "all-to-all is not supported by this backend");
  }
  /// Collective: waits for the streams and agrees on the step's outcome.
  virtual Error stepEnd() = 0;
  /// The caller fails the open step (like a kernel failure).
  virtual void failStep(pwrt_status status, const std::string &message) = 0;
  /// The host thread gives up an open step (fatal on every rank).
  virtual void abandonStep(const std::string &why) = 0;

  /// Collective: stops the streams, writes the trace, releases MPI
  /// resources. Returns the context's fatal error if it had one.
  virtual Error shutdown() = 0;
  /// After shutdown: a stream thread is stuck in a kernel and still uses
  /// the backend, the kernel table and the pool, which must then leak.
  virtual bool hasStuckThreads() const = 0;

  /// Whether a transfer may name this rank itself as its peer.
  virtual bool allowsSelfTransfers() const { return false; }
  /// The CUDA device of the context, -1 for host backends.
  virtual int device() const { return -1; }
};

/// The host backend over MPI; on failure returns null and sets `error`.
std::unique_ptr<Backend> createHostBackend(const ResolvedOptions &options,
                                           const KernelTable &kernels,
                                           Error &error);

/// The CUDA backend, one process per rank (CudaBackend.cpp); in a build
/// without CUDA it fails with PWRT_ERROR_UNSUPPORTED.
std::unique_ptr<Backend> createCudaBackend(const ResolvedOptions &options,
                                           const KernelTable &kernels,
                                           Error &error);

/// The CUDA backend with every rank in this process: backends[r] is rank r
/// of kernels.size(), on devices[r] (empty: r % the visible devices).
Error createCudaLocalBackends(const ResolvedOptions &options,
                              const std::vector<const KernelTable *> &kernels,
                              const std::vector<int> &devices,
                              std::vector<std::unique_ptr<Backend>> &backends);

} // namespace pwrt

#endif // PWRT_LIB_BACKEND_H
