//===- Kernels.h - the MLP's stage kernels on the GPU -----------*- C++ -*-===//
//
// The arithmetic of Model.h (linear H -> 4H, GELU, linear 4H -> H, fp32,
// mean squared error) as CUDA kernels on a given stream, for the CUDA
// backend. Every sum runs in a fixed order (no atomics), so results do not
// change from run to run; each launcher returns the launch's error.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MLP_GPU_KERNELS_H
#define PIPEWEAVE_EXAMPLES_MLP_GPU_KERNELS_H

#include <cuda_runtime_api.h>

namespace mlp::gpu {

/// Device pointers to one block's parameters (or their gradients), laid
/// out as Model.h's Block: w1 [H x 4H], b1 [4H], w2 [4H x H], b2 [H].
struct DeviceBlock {
  float *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *b2 = nullptr;
};

/// x: [rows x H]; saved: x then z = x w1 + b1 [rows x 4H]; y: [rows x H]
/// (null: only `saved` is written, as Model.cpp's forward).
cudaError_t forward(int hidden, int rows, DeviceBlock p, const float *x,
                    float *saved, float *y, cudaStream_t stream);

/// dy = 2 (y - t) / (rows * hidden * count); *loss = sum (y - t)^2 /
/// (rows * hidden * count), in double.
cudaError_t loss(int hidden, int rows, const float *y, const float *t,
                 float *dy, int count, double *lossOut, cudaStream_t stream);

/// dx from dy and the saved activations (dx may be null: nothing to do).
cudaError_t backwardInput(int hidden, int rows, DeviceBlock p, const float *dy,
                          const float *saved, float *dx, cudaStream_t stream);

/// Adds this micro-batch's weight gradients to `grad`. `scratch` holds
/// rows x 4H floats.
cudaError_t backwardWeight(int hidden, int rows, DeviceBlock p,
                           DeviceBlock grad, const float *dy,
                           const float *saved, float *scratch,
                           cudaStream_t stream);

/// Launches a kernel that does nothing (runtime overhead measurements).
cudaError_t emptyKernel(cudaStream_t stream);

} // namespace mlp::gpu

#endif // PIPEWEAVE_EXAMPLES_MLP_GPU_KERNELS_H
