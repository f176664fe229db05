//===- CudaOverhead.cpp - Runtime overhead per action on the CUDA backend -===//
//
// pw-bench-runtime-cuda: time per action of the CUDA backend when kernels
// do nothing (one empty CUDA kernel each), so that what is measured is the
// runtime plus CUDA's own launch cost; the same launches made directly on a
// CUDA stream give that launch cost alone. One step per measurement, the
// median of the steps after a warm-up; `us/action` = step wall time (from
// pwrt_step_begin to the return of pwrt_step_end) / actions.
//
//   pw-bench-runtime-cuda [--actions N] [--steps S]
//
// Prints one line per case and a last line "per-action runtime overhead:
// X us" (one stream, minus the direct launches). Exit 77 without a GPU.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

cudaError_t launchEmptyKernel(cudaStream_t stream);

namespace {

using Clock = std::chrono::steady_clock;

int actions = 1000;
int steps = 20;

pwrt_status emptyKernel(const pwrt_kernel_args *args) {
  return launchEmptyKernel(static_cast<cudaStream_t>(args->native_stream)) ==
                 cudaSuccess
             ? PWRT_OK
             : PWRT_ERROR_KERNEL_FAILED;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

void report(const char *name, double seconds, int count) {
  std::printf("%-44s %8.2f us/action (%d actions per step, median of %d "
              "steps)\n",
              name, seconds * 1e6 / count, count, steps);
  std::fflush(stdout);
}

/// CUDA alone: `actions` empty kernels on one stream, then a synchronize.
double directLaunches() {
  cudaStream_t stream;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking))
    return -1;
  std::vector<double> times;
  for (int step = 0; step < steps + 3; ++step) {
    auto start = Clock::now();
    for (int i = 0; i < actions; ++i)
      launchEmptyKernel(stream);
    cudaStreamSynchronize(stream);
    if (step >= 3)
      times.push_back(
          std::chrono::duration<double>(Clock::now() - start).count());
  }
  cudaStreamDestroy(stream);
  return median(times);
}

struct Setup {
  pwrt_context *ctx = nullptr;
  pwrt_kernel kernel = -1;
  pwrt_stream streams[2] = {-1, -1};
  pwrt_event events[2] = {-1, -1};
  void *slots[2] = {nullptr, nullptr};
};

bool setUp(Setup &s) {
  return pwrt_register_kernel(s.ctx, "empty", emptyKernel, nullptr,
                              &s.kernel) == PWRT_OK &&
         pwrt_pool_create(s.ctx, 8192, 0) == PWRT_OK &&
         pwrt_buffer_at(s.ctx, 0, 64, &s.slots[0]) == PWRT_OK &&
         pwrt_buffer_at(s.ctx, 4096, 64, &s.slots[1]) == PWRT_OK &&
         pwrt_stream_create(s.ctx, "a", &s.streams[0]) == PWRT_OK &&
         pwrt_stream_create(s.ctx, "b", &s.streams[1]) == PWRT_OK &&
         pwrt_event_create(s.ctx, &s.events[0]) == PWRT_OK &&
         pwrt_event_create(s.ctx, &s.events[1]) == PWRT_OK;
}

pwrt_status launch(Setup &s, int stream) {
  pwrt_kernel_args args = {};
  args.kind = PWRT_ACTION_FORWARD;
  args.stage2 = args.microbatch2 = -1;
  args.layer = -1;
  return pwrt_launch(s.ctx, s.streams[stream], s.kernel, &args);
}

/// Runs `enqueue` as a step, `steps` times after a warm-up; the median
/// step time, or -1 (with the error printed).
double timeSteps(Setup &s, const std::function<pwrt_status()> &enqueue) {
  std::vector<double> times;
  for (int step = 0; step < steps + 3; ++step) {
    auto start = Clock::now();
    if (pwrt_step_begin(s.ctx) != PWRT_OK || enqueue() != PWRT_OK ||
        pwrt_step_end(s.ctx) != PWRT_OK) {
      std::fprintf(stderr, "pw-bench-runtime-cuda: %s\n",
                   pwrt_last_error(s.ctx));
      return -1;
    }
    if (step >= 3)
      times.push_back(
          std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(times);
}

pwrt_context_options cudaOptions() {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.trace_path = "";
  return options;
}

/// Ranks of one process exchanging 64-byte messages with a partner, one
/// group per exchange; returns rank 0's median step time.
double pairExchange(const std::vector<int32_t> &devices, int groups) {
  int n = int(devices.size());
  pwrt_context_options options = cudaOptions();
  std::vector<pwrt_context *> contexts(size_t(n), nullptr);
  if (pwrt_cuda_contexts_create(&options, n, devices.data(), contexts.data()) !=
      PWRT_OK)
    return -1;
  std::vector<double> result(size_t(n), -1);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      Setup s;
      s.ctx = contexts[size_t(r)];
      if (setUp(s))
        result[size_t(r)] = timeSteps(s, [&] {
          for (int g = 0; g < groups; ++g) {
            pwrt_transfer send = {
                s.slots[0], 64, r ^ 1, g, PWRT_PAYLOAD_ACTIVATION, 0, g};
            pwrt_transfer recv = {
                s.slots[1], 64, r ^ 1, g, PWRT_PAYLOAD_ACTIVATION, 0, g};
            pwrt_status status;
            if ((status = pwrt_p2p_group_begin(s.ctx, s.streams[1])) ||
                (status = pwrt_send(s.ctx, s.streams[1], &send)) ||
                (status = pwrt_recv(s.ctx, s.streams[1], &recv)) ||
                (status = pwrt_p2p_group_end(s.ctx, s.streams[1])))
              return status;
          }
          return PWRT_OK;
        });
      pwrt_context_destroy(s.ctx);
    });
  for (std::thread &thread : threads)
    thread.join();
  return result[0];
}

} // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--actions") && i + 1 < argc)
      actions = std::max(10, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--actions N] [--steps S]\n", argv[0]);
      return 2;
    }
  }
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    std::printf("pw-bench-runtime-cuda: no GPU (%s); nothing to measure\n",
                rc != cudaSuccess ? cudaGetErrorString(rc)
                                  : "cudaGetDeviceCount says 0");
    return 77;
  }
  cudaDeviceProp properties;
  cudaGetDeviceProperties(&properties, 0);
  std::printf("device 0: %s; %d device(s)\n", properties.name, count);

  double direct = directLaunches();
  report("CUDA alone: empty kernels on one stream", direct, actions);

  pwrt_context_options options = cudaOptions();
  Setup s;
  if (pwrt_context_create(&options, &s.ctx) != PWRT_OK || !setUp(s)) {
    std::fprintf(stderr, "pw-bench-runtime-cuda: %s\n",
                 s.ctx ? pwrt_last_error(s.ctx) : pwrt_last_error(nullptr));
    return 1;
  }
  double oneStream = timeSteps(s, [&] {
    for (int i = 0; i < actions; ++i)
      if (pwrt_status status = launch(s, 0))
        return status;
    return PWRT_OK;
  });
  report("pwrt: empty kernels on one stream", oneStream, actions);
  double handOver = timeSteps(s, [&] {
    for (int i = 0; i < actions; ++i) {
      int stream = i % 2;
      pwrt_status status;
      if ((status = pwrt_stream_wait_event(s.ctx, s.streams[stream],
                                           s.events[1 - stream])) ||
          (status = launch(s, stream)) ||
          (status =
               pwrt_event_record(s.ctx, s.streams[stream], s.events[stream])))
        return status;
    }
    return PWRT_OK;
  });
  report("pwrt: two streams, each waiting for the other", handOver, actions);
  int groups = std::max(10, actions / 10);
  double selfGroups = timeSteps(s, [&] {
    for (int g = 0; g < groups; ++g) {
      pwrt_transfer send = {s.slots[0], 64, 0, g, PWRT_PAYLOAD_ACTIVATION,
                            0,          g};
      pwrt_transfer recv = {s.slots[1], 64, 0, g, PWRT_PAYLOAD_ACTIVATION,
                            0,          g};
      pwrt_status status;
      if ((status = pwrt_p2p_group_begin(s.ctx, s.streams[1])) ||
          (status = pwrt_send(s.ctx, s.streams[1], &send)) ||
          (status = pwrt_recv(s.ctx, s.streams[1], &recv)) ||
          (status = pwrt_p2p_group_end(s.ctx, s.streams[1])))
        return status;
    }
    return PWRT_OK;
  });
  report("pwrt: NCCL groups, 64 B to and from itself", selfGroups, groups);
  pwrt_context_destroy(s.ctx);

  double local = pairExchange({0, 0}, groups);
  report("pwrt: 2 ranks on GPU 0 (local transport), 64 B", local, groups);
  if (count >= 2) {
    double nccl = pairExchange({0, 1}, groups);
    report("pwrt: 2 ranks on GPUs 0 and 1 (NCCL), 64 B", nccl, groups);
  }
  if (oneStream < 0 || direct < 0)
    return 1;
  std::printf("per-action runtime overhead: %.2f us (one stream, empty "
              "kernels: %.2f us per launch through pwrt, %.2f us direct)\n",
              (oneStream - direct) * 1e6 / actions, oneStream * 1e6 / actions,
              direct * 1e6 / actions);
  return 0;
}
