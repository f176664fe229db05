//===- TestKernels.h - Device helpers of the GPU tests ----------*- C++ -*-===//

#ifndef PWRT_TEST_CUDA_TESTKERNELS_H
#define PWRT_TEST_CUDA_TESTKERNELS_H

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace pwrt::gputest {

/// data[i] = value for i < count, after spinning `spinNs` on the device.
cudaError_t fill(float *data, size_t count, float value, int64_t spinNs,
                 cudaStream_t stream);
/// Spins on the device for `ns` nanoseconds (a kernel that takes long).
cudaError_t spin(int64_t ns, cudaStream_t stream);
/// A kernel that does nothing.
cudaError_t empty(cudaStream_t stream);

} // namespace pwrt::gputest

#endif // PWRT_TEST_CUDA_TESTKERNELS_H
