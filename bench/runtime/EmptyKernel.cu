//===- EmptyKernel.cu - the kernel of the CUDA overhead benchmark ---------===//

#include <cuda_runtime_api.h>

namespace {
__global__ void nothing() {}
} // namespace

cudaError_t launchEmptyKernel(cudaStream_t stream) {
  nothing<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}
