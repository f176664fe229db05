//===- TestKernels.cu - Device helpers of the GPU tests -------------------===//

#include "TestKernels.h"

namespace pwrt::gputest {
namespace {

__device__ int64_t globalNs() {
  uint64_t ns;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  return int64_t(ns);
}

__global__ void fillKernel(float *data, size_t count, float value,
                           int64_t spinNs) {
  if (spinNs > 0 && blockIdx.x == 0 && threadIdx.x == 0) {
    int64_t start = globalNs();
    while (globalNs() - start < spinNs) {
    }
  }
  __syncthreads();
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x)
    data[i] = value;
}

__global__ void spinKernel(int64_t ns) {
  int64_t start = globalNs();
  while (globalNs() - start < ns) {
  }
}

__global__ void emptyKernel() {}

} // namespace

cudaError_t fill(float *data, size_t count, float value, int64_t spinNs,
                 cudaStream_t stream) {
  // One block when spinning, so that the spin delays every write.
  unsigned blocks = spinNs > 0 ? 1 : unsigned((count + 255) / 256);
  fillKernel<<<blocks ? blocks : 1, 256, 0, stream>>>(data, count, value,
                                                      spinNs);
  return cudaGetLastError();
}

cudaError_t spin(int64_t ns, cudaStream_t stream) {
  spinKernel<<<1, 1, 0, stream>>>(ns);
  return cudaGetLastError();
}

cudaError_t empty(cudaStream_t stream) {
  emptyKernel<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}

} // namespace pwrt::gputest
