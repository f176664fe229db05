//===- CudaCheck.h - Checked CUDA and NCCL calls ----------------*- C++ -*-===//
//
// PWRT_CUDA_CHECK(call, site) and PWRT_NCCL_CHECK(call, comm, site) return
// an Error from the enclosing function when the call fails, with a message
// from describeFailedCall (CallSite.h). Errors that leave the CUDA context
// unusable (an illegal address, a failed launch, ...) and every NCCL error
// are fatal: the context cannot run another step.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_CUDACHECK_H
#define PWRT_LIB_CUDACHECK_H

#include "CallSite.h"
#include "Error.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

namespace pwrt {

/// Whether `error` breaks the CUDA context for good (every later call
/// fails with it).
bool isStickyCudaError(cudaError_t error);

/// "ncclRemoteError" for ncclRemoteError.
const char *ncclResultName(ncclResult_t result);

/// The Error for a failed CUDA call: PWRT_ERROR_OUT_OF_MEMORY for
/// allocations, else PWRT_ERROR_DEVICE; fatal if the error is sticky.
Error cudaCallFailed(const char *expression, cudaError_t error,
                     const CallSite &site);

/// The Error for a failed NCCL call (always fatal), with NCCL's own last
/// error text for `comm` (may be null).
Error ncclCallFailed(const char *expression, ncclResult_t result,
                     ncclComm_t comm, const CallSite &site);

} // namespace pwrt

#define PWRT_CUDA_CHECK(expression, site)                                      \
  do {                                                                         \
    cudaError_t pwrtCudaStatus_ = (expression);                                \
    if (pwrtCudaStatus_ != cudaSuccess)                                        \
      return ::pwrt::cudaCallFailed(#expression, pwrtCudaStatus_, (site));     \
  } while (false)

#define PWRT_NCCL_CHECK(expression, comm, site)                                \
  do {                                                                         \
    ncclResult_t pwrtNcclStatus_ = (expression);                               \
    if (pwrtNcclStatus_ != ncclSuccess)                                        \
      return ::pwrt::ncclCallFailed(#expression, pwrtNcclStatus_, (comm),      \
                                    (site));                                   \
  } while (false)

#endif // PWRT_LIB_CUDACHECK_H
