//===- CudaCheck.cpp - Checked CUDA and NCCL calls ------------------------===//

#include "CudaCheck.h"

namespace pwrt {

bool isStickyCudaError(cudaError_t error) {
  switch (error) {
  case cudaErrorIllegalAddress:
  case cudaErrorLaunchTimeout:
  case cudaErrorHardwareStackError:
  case cudaErrorIllegalInstruction:
  case cudaErrorMisalignedAddress:
  case cudaErrorInvalidAddressSpace:
  case cudaErrorInvalidPc:
  case cudaErrorLaunchFailure:
  case cudaErrorAssert:
  case cudaErrorECCUncorrectable:
  case cudaErrorContextIsDestroyed:
  case cudaErrorUnknown:
    return true;
  default:
    return false;
  }
}

const char *ncclResultName(ncclResult_t result) {
  switch (result) {
  case ncclSuccess:
    return "ncclSuccess";
  case ncclUnhandledCudaError:
    return "ncclUnhandledCudaError";
  case ncclSystemError:
    return "ncclSystemError";
  case ncclInternalError:
    return "ncclInternalError";
  case ncclInvalidArgument:
    return "ncclInvalidArgument";
  case ncclInvalidUsage:
    return "ncclInvalidUsage";
  case ncclRemoteError:
    return "ncclRemoteError";
  case ncclInProgress:
    return "ncclInProgress";
  default:
    return "an unknown NCCL result";
  }
}

Error cudaCallFailed(const char *expression, cudaError_t error,
                     const CallSite &site) {
  // Clear a non-sticky error so that it is not reported again by the
  // next unrelated call (sticky ones cannot be cleared).
  cudaGetLastError();
  pwrt_status status = error == cudaErrorMemoryAllocation
                           ? PWRT_ERROR_OUT_OF_MEMORY
                           : PWRT_ERROR_DEVICE;
  return Error(status,
               describeFailedCall(expression, cudaGetErrorName(error),
                                  cudaGetErrorString(error), site),
               isStickyCudaError(error));
}

Error ncclCallFailed(const char *expression, ncclResult_t result,
                     ncclComm_t comm, const CallSite &site) {
  const char *last = ncclGetLastError(comm);
  std::string detail = last && *last ? std::string("NCCL says: ") + last : "";
  return Error(PWRT_ERROR_DEVICE,
               describeFailedCall(expression, ncclResultName(result),
                                  ncclGetErrorString(result), site, detail),
               /*fatal=*/true);
}

} // namespace pwrt
