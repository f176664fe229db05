//===- mlp-gpu.cpp - a compiled schedule's training step on GPUs, checked -===//
//
// The GPU version of mlp.cpp: the same programs that pwc compiled ahead of
// time (Programs.h), linked with the runtime's CUDA backend, with kernels
// that run on the GPU (Kernels.cu). By default every rank runs in this
// process (pwrt_cuda_contexts_create: one thread per rank, rank r on device
// r % GPUs; ranks that share a GPU use the local transport, NCCL otherwise);
// with --processes under mpirun, one process per rank over NCCL.
//
// Checks the loss and every weight gradient against an unpipelined step on
// the GPU with the same kernels (max relative difference <= 1e-5: only the
// order in which micro-batches add up differs), and that step against the
// CPU model of Model.cpp (<= 1e-4: erff, expf and fused multiply-adds on
// the GPU differ from the CPU's by a few units in the last place, which
// grows through 8 to 16 blocks and their gradients).
//
//   mlp-gpu [--schedule dualpipe|dualpipev|1f1b|zb-h1|all] [--steps N]
//           [--fail-stage S] [--processes]
//
// Exit status: 0 passed, 1 failed, 2 bad usage, 77 no GPU.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "Model.h"
#include "Programs.h"

#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <cuda_runtime_api.h>
#ifdef MLP_GPU_WITH_MPI
#include <mpi.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using mlp::Program;
namespace gpu = mlp::gpu;

constexpr int kNoGpu = 77;
constexpr int kMaxStreams = 4; // scratch buffers by runtime stream index

/// Device memory owned by one rank (or the reference), freed at the end.
class DeviceMemory {
public:
  ~DeviceMemory() {
    for (void *pointer : pointers)
      cudaFree(pointer);
  }
  float *floats(size_t count, cudaError_t &error) {
    return static_cast<float *>(bytes(sizeof(float) * count, error));
  }
  void *bytes(size_t size, cudaError_t &error) {
    void *pointer = nullptr;
    cudaError_t rc = cudaMalloc(&pointer, size);
    // cudaMemset runs on the legacy stream, which the runtime's and the
    // reference's streams do not wait for: finish it here.
    if (rc == cudaSuccess)
      rc = cudaMemset(pointer, 0, size);
    if (rc == cudaSuccess)
      rc = cudaDeviceSynchronize();
    if (rc != cudaSuccess) {
      if (error == cudaSuccess)
        error = rc;
      return nullptr;
    }
    pointers.push_back(pointer);
    return pointer;
  }

private:
  std::vector<void *> pointers;
};

size_t blockFloats(const mlp::Shape &s) {
  return 2 * size_t(s.hidden) * s.wide() + s.wide() + s.hidden;
}

/// A block's parameters in one device allocation, laid out as flatten().
gpu::DeviceBlock deviceBlock(const mlp::Shape &s, float *base) {
  gpu::DeviceBlock block;
  block.w1 = base;
  block.b1 = block.w1 + size_t(s.hidden) * s.wide();
  block.w2 = block.b1 + s.wide();
  block.b2 = block.w2 + size_t(s.wide()) * s.hidden;
  return block;
}

std::vector<float> flatten(const mlp::Block &block) {
  std::vector<float> flat;
  for (const std::vector<float> *v :
       {&block.w1, &block.b1, &block.w2, &block.b2})
    flat.insert(flat.end(), v->begin(), v->end());
  return flat;
}

mlp::Block unflatten(const mlp::Shape &shape, const float *flat) {
  mlp::Block block(shape);
  for (std::vector<float> *v : {&block.w1, &block.b1, &block.w2, &block.b2}) {
    std::copy(flat, flat + v->size(), v->begin());
    flat += v->size();
  }
  return block;
}

/// Every micro-batch's input and target, uploaded once:
/// [direction][micro-batch][rows x H].
struct DeviceData {
  float *inputs = nullptr;
  float *targets = nullptr;
  std::vector<float *> params; // by block, flat

  cudaError_t upload(const mlp::Shape &s, const Program &program,
                     DeviceMemory &memory) {
    cudaError_t error = cudaSuccess;
    int perDirection = program.microbatches / program.directions;
    size_t each = size_t(s.rows) * s.hidden;
    size_t count = size_t(program.microbatches) * each;
    inputs = memory.floats(count, error);
    targets = memory.floats(count, error);
    for (int b = 0; b < program.blocks; ++b)
      params.push_back(memory.floats(blockFloats(s), error));
    if (error != cudaSuccess)
      return error;
    for (int d = 0; d < program.directions; ++d)
      for (int mb = 0; mb < perDirection; ++mb) {
        size_t offset = (size_t(d) * perDirection + mb) * each;
        std::vector<float> x = mlp::input(s, d, mb), t = mlp::target(s, d, mb);
        if ((error = cudaMemcpy(inputs + offset, x.data(), each * 4,
                                cudaMemcpyHostToDevice)) ||
            (error = cudaMemcpy(targets + offset, t.data(), each * 4,
                                cudaMemcpyHostToDevice)))
          return error;
      }
    for (int b = 0; b < program.blocks; ++b) {
      std::vector<float> flat = flatten(mlp::initialBlock(s, b));
      if ((error = cudaMemcpy(params[size_t(b)], flat.data(), flat.size() * 4,
                              cudaMemcpyHostToDevice)))
        return error;
    }
    return cudaSuccess;
  }
  const float *input(const mlp::Shape &s, const Program &program, int direction,
                     int mb) const {
    int perDirection = program.microbatches / program.directions;
    return inputs + (size_t(direction) * perDirection + mb) * s.rows * s.hidden;
  }
  const float *target(const mlp::Shape &s, const Program &program,
                      int direction, int mb) const {
    int perDirection = program.microbatches / program.directions;
    return targets +
           (size_t(direction) * perDirection + mb) * s.rows * s.hidden;
  }
};

/// What the kernels of one rank share.
struct RankState {
  mlp::Shape shape;
  const Program *program = nullptr;
  int failStage = -1;
  DeviceMemory memory;
  DeviceData data;
  std::vector<float *> gradients; // by stage, flat, on the device
  std::set<int> stagesWithGradients;
  double *losses = nullptr; // by global micro-batch (direction-major)
  std::set<int> lossesWritten;
  float *scratch[kMaxStreams] = {};

  cudaError_t setUp(const Program &p, int failAt) {
    program = &p;
    failStage = failAt;
    cudaError_t error = data.upload(shape, p, memory);
    for (int stage = 0; stage < p.blocks * p.directions; ++stage)
      gradients.push_back(memory.floats(blockFloats(shape), error));
    losses = static_cast<double *>(
        memory.bytes(sizeof(double) * size_t(p.microbatches), error));
    for (float *&buffer : scratch)
      buffer = memory.floats(size_t(shape.rows) * shape.wide(), error);
    return error;
  }
  /// Between steps, on a stream of this rank (other ranks on the device
  /// may be running their steps already).
  cudaError_t zeroGradients() {
    if (!setupStream)
      if (cudaError_t rc =
              cudaStreamCreateWithFlags(&setupStream, cudaStreamNonBlocking))
        return rc;
    for (float *gradient : gradients)
      if (cudaError_t rc = cudaMemsetAsync(
              gradient, 0, sizeof(float) * blockFloats(shape), setupStream))
        return rc;
    stagesWithGradients.clear();
    lossesWritten.clear();
    return cudaStreamSynchronize(setupStream);
  }
  ~RankState() {
    if (setupStream)
      cudaStreamDestroy(setupStream);
  }
  cudaStream_t setupStream = nullptr;
  int blockOf(int stage) const { return stage % program->blocks; }
  int directionOf(int stage) const { return stage / program->blocks; }
  gpu::DeviceBlock params(int stage) const {
    return deviceBlock(shape, data.params[size_t(blockOf(stage))]);
  }
};

RankState &stateOf(const pwrt_kernel_args *args) {
  return *static_cast<RankState *>(args->user_data);
}
cudaStream_t streamOf(const pwrt_kernel_args *args) {
  return static_cast<cudaStream_t>(args->native_stream);
}
float *data(const pwrt_buffer &buffer) {
  return static_cast<float *>(buffer.data);
}

bool checkSize(const pwrt_kernel_args *args, const pwrt_buffer &buffer,
               size_t bytes, const char *what) {
  if (!buffer.data || buffer.bytes == bytes)
    return true;
  std::string message = std::string(what) + " buffer has " +
                        std::to_string(buffer.bytes) + " bytes, expected " +
                        std::to_string(bytes);
  pwrt_kernel_set_error(args, message.c_str());
  return false;
}

pwrt_status launched(const pwrt_kernel_args *args, cudaError_t error,
                     const char *what) {
  if (error == cudaSuccess)
    return PWRT_OK;
  std::string message = std::string(what) +
                        " launch failed: " + cudaGetErrorName(error) + " (" +
                        cudaGetErrorString(error) + ")";
  pwrt_kernel_set_error(args, message.c_str());
  return PWRT_ERROR_KERNEL_FAILED;
}

pwrt_status forwardKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  if (args->stage == s.failStage) {
    pwrt_kernel_set_error(args, "failing on purpose (--fail-stage)");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  if (!checkSize(args, args->inputs[0], s.shape.activationBytes(), "input") ||
      !checkSize(args, args->outputs[0], s.shape.activationBytes(), "output") ||
      !checkSize(args, args->outputs[1], s.shape.savedBytes(), "saved"))
    return PWRT_ERROR_KERNEL_FAILED;
  const float *x = data(args->inputs[0]);
  if (!x) // a first stage reads its micro-batch
    x = s.data.input(s.shape, *s.program, s.directionOf(args->stage),
                     args->microbatch);
  return launched(args,
                  gpu::forward(s.shape.hidden, s.shape.rows,
                               s.params(args->stage), x, data(args->outputs[1]),
                               data(args->outputs[0]), streamOf(args)),
                  "forward");
}

pwrt_status lossKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  int direction = s.directionOf(args->stage);
  int index = direction * (s.program->microbatches / s.program->directions) +
              args->microbatch;
  s.lossesWritten.insert(index);
  return launched(
      args,
      gpu::loss(s.shape.hidden, s.shape.rows, data(args->inputs[0]),
                s.data.target(s.shape, *s.program, direction, args->microbatch),
                data(args->outputs[0]), s.program->microbatches,
                s.losses + index, streamOf(args)),
      "loss");
}

pwrt_status backwardInputKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  return launched(
      args,
      gpu::backwardInput(s.shape.hidden, s.shape.rows, s.params(args->stage),
                         data(args->inputs[0]), data(args->inputs[1]),
                         data(args->outputs[0]), streamOf(args)),
      "backward-input");
}

pwrt_status backwardWeightKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  if (args->stream < 0 || args->stream >= kMaxStreams) {
    pwrt_kernel_set_error(args, "no scratch buffer for this stream");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  s.stagesWithGradients.insert(args->stage);
  return launched(args,
                  gpu::backwardWeight(
                      s.shape.hidden, s.shape.rows, s.params(args->stage),
                      deviceBlock(s.shape, s.gradients[size_t(args->stage)]),
                      data(args->inputs[0]), data(args->inputs[1]),
                      s.scratch[args->stream], streamOf(args)),
                  "backward-weight");
}

pwrt_status backwardKernel(const pwrt_kernel_args *args) {
  pwrt_status status = backwardWeightKernel(args);
  return status == PWRT_OK ? backwardInputKernel(args) : status;
}

/// One rank's share of the result: its stages' gradients (flat, by stage)
/// and its micro-batches' losses.
struct RankResult {
  pwrt_status status = PWRT_OK;
  std::string error;
  std::map<int, std::vector<float>> gradients;
  double loss = 0;
  std::vector<double> stepSeconds;
};

/// Sets up rank `ctx`, runs `steps` steps, downloads the result of the
/// last one. Does not destroy the context.
RankResult runRank(pwrt_context *ctx, const Program &program, int steps,
                   int failStage) {
  RankResult result;
  auto fail = [&](cudaError_t error, const char *what) {
    result.status = PWRT_ERROR_DEVICE;
    result.error = std::string(what) + ": " + cudaGetErrorName(error) + " (" +
                   cudaGetErrorString(error) + ")";
    return result;
  };
  if (cudaError_t error = cudaSetDevice(pwrt_cuda_device(ctx)))
    return fail(error, "cudaSetDevice");
  RankState state;
  if (cudaError_t error = state.setUp(program, failStage))
    return fail(error, "setting up the rank's model on the GPU");
  struct {
    const char *name;
    pwrt_kernel_fn fn;
  } kernels[] = {{"mlp_fwd", forwardKernel},
                 {"mlp_loss", lossKernel},
                 {"mlp_bwd_in", backwardInputKernel},
                 {"mlp_bwd_w", backwardWeightKernel},
                 {"mlp_bwd", backwardKernel}};
  for (const auto &kernel : kernels)
    pwrt_register_kernel(ctx, kernel.name, kernel.fn, &state, nullptr);

  for (int step = 0; step < steps; ++step) {
    if (cudaError_t error = state.zeroGradients())
      return fail(error, "zeroing the gradients");
    result.status = program.step(ctx);
    if (result.status != PWRT_OK) {
      result.error = pwrt_last_error(ctx); // printed by the runtime already
      return result;
    }
    double seconds = 0;
    if (pwrt_step_seconds(ctx, &seconds) == PWRT_OK)
      result.stepSeconds.push_back(seconds);
  }
  // The step has ended: the streams are idle.
  size_t floats = blockFloats(state.shape);
  for (int stage : state.stagesWithGradients) {
    std::vector<float> host(floats);
    if (cudaError_t error =
            cudaMemcpy(host.data(), state.gradients[size_t(stage)],
                       floats * sizeof(float), cudaMemcpyDeviceToHost))
      return fail(error, "downloading the gradients");
    result.gradients[stage] = std::move(host);
  }
  std::vector<double> losses(size_t(program.microbatches));
  if (cudaError_t error =
          cudaMemcpy(losses.data(), state.losses,
                     losses.size() * sizeof(double), cudaMemcpyDeviceToHost))
    return fail(error, "downloading the losses");
  for (int index : state.lossesWritten)
    result.loss += losses[size_t(index)];
  return result;
}

/// The unpipelined step on `device` with the same kernels: every
/// micro-batch of every direction through all blocks in order.
bool gpuSequentialStep(const mlp::Shape &s, const Program &program, int device,
                       mlp::Reference &ref, std::string &error) {
  auto failed = [&](cudaError_t rc, const char *what) {
    error = std::string(what) + ": " + cudaGetErrorName(rc) + " (" +
            cudaGetErrorString(rc) + ")";
    return false;
  };
  cudaError_t rc = cudaSetDevice(device);
  if (rc)
    return failed(rc, "cudaSetDevice");
  DeviceMemory memory;
  DeviceData data;
  if ((rc = data.upload(s, program, memory)))
    return failed(rc, "uploading the reference model");
  std::vector<float *> grads, saved;
  for (int b = 0; b < program.blocks; ++b) {
    grads.push_back(memory.floats(blockFloats(s), rc));
    saved.push_back(memory.floats(s.savedBytes() / sizeof(float), rc));
  }
  size_t activation = size_t(s.rows) * s.hidden;
  float *bufferA = memory.floats(activation, rc);
  float *bufferB = memory.floats(activation, rc);
  float *scratch = memory.floats(size_t(s.rows) * s.wide(), rc);
  auto *losses = static_cast<double *>(
      memory.bytes(sizeof(double) * size_t(program.microbatches), rc));
  if (rc)
    return failed(rc, "allocating the reference");
  cudaStream_t stream = nullptr;
  if ((rc = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)))
    return failed(rc, "cudaStreamCreateWithFlags");
  int perDirection = program.microbatches / program.directions;
  for (int d = 0; d < program.directions && !rc; ++d)
    for (int mb = 0; mb < perDirection && !rc; ++mb) {
      const float *x = data.input(s, program, d, mb);
      float *y = bufferA, *other = bufferB;
      for (int b = 0; b < program.blocks && !rc; ++b) {
        rc = gpu::forward(s.hidden, s.rows, deviceBlock(s, data.params[b]), x,
                          saved[size_t(b)], y, stream);
        x = y;
        std::swap(y, other);
      }
      // x is the last block's output; `y` is free for dy, `other` for dx.
      float *dy = y, *dx = other;
      if (!rc)
        rc = gpu::loss(s.hidden, s.rows, x, data.target(s, program, d, mb), dy,
                       program.microbatches, losses + d * perDirection + mb,
                       stream);
      for (int b = program.blocks - 1; b >= 0 && !rc; --b) {
        gpu::DeviceBlock params = deviceBlock(s, data.params[size_t(b)]);
        rc = gpu::backwardWeight(s.hidden, s.rows, params,
                                 deviceBlock(s, grads[size_t(b)]), dy,
                                 saved[size_t(b)], scratch, stream);
        if (!rc)
          rc = gpu::backwardInput(s.hidden, s.rows, params, dy,
                                  saved[size_t(b)], dx, stream);
        std::swap(dy, dx);
      }
    }
  if (!rc)
    rc = cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
  if (rc)
    return failed(rc, "running the reference step");
  ref.grads.clear();
  for (int b = 0; b < program.blocks; ++b) {
    std::vector<float> host(blockFloats(s));
    if ((rc = cudaMemcpy(host.data(), grads[size_t(b)],
                         host.size() * sizeof(float), cudaMemcpyDeviceToHost)))
      return failed(rc, "downloading the reference gradients");
    ref.grads.push_back(unflatten(s, host.data()));
  }
  std::vector<double> lossParts(size_t(program.microbatches));
  if ((rc = cudaMemcpy(lossParts.data(), losses,
                       lossParts.size() * sizeof(double),
                       cudaMemcpyDeviceToHost)))
    return failed(rc, "downloading the reference loss");
  ref.loss = 0;
  for (double part : lossParts)
    ref.loss += part;
  return true;
}

/// Sums the pipelined gradients of each block over its directions and
/// compares them and the loss with `ref`: the worst relative difference.
double compare(const mlp::Shape &s, const Program &program,
               const std::map<int, std::vector<float>> &stageGradients,
               double loss, const mlp::Reference &ref) {
  double worst = 0;
  for (int b = 0; b < program.blocks; ++b) {
    mlp::Block sum(s);
    sum.zero();
    std::vector<float> total(blockFloats(s), 0.0f);
    for (int d = 0; d < program.directions; ++d) {
      auto found = stageGradients.find(d * program.blocks + b);
      if (found == stageGradients.end())
        continue; // no gradient: compares as zero, and fails
      for (size_t i = 0; i < total.size(); ++i)
        total[i] += found->second[i];
    }
    worst = std::max(worst, mlp::relativeDifference(unflatten(s, total.data()),
                                                    ref.grads[size_t(b)]));
  }
  return std::max(worst, std::fabs(loss - ref.loss) / std::fabs(ref.loss));
}

double worstOfReferences(const mlp::Reference &a, const mlp::Reference &b) {
  double worst = std::fabs(a.loss - b.loss) / std::fabs(b.loss);
  for (size_t i = 0; i < a.grads.size(); ++i)
    worst = std::max(worst, mlp::relativeDifference(a.grads[i], b.grads[i]));
  return worst;
}

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// Checks a finished step against the references (on `device`) and prints
/// the verdict; returns whether it passed.
bool check(const mlp::Shape &s, const Program &program, int device,
           const std::map<int, std::vector<float>> &gradients, double loss,
           const std::string &where, double stepSeconds, int steps) {
  mlp::Reference gpuRef;
  std::string error;
  if (!gpuSequentialStep(s, program, device, gpuRef, error)) {
    std::printf("mlp-gpu: error: the reference step on the GPU failed: %s\n",
                error.c_str());
    return false;
  }
  mlp::Reference cpuRef =
      mlp::sequentialStep(s, program.blocks, program.directions,
                          program.microbatches / program.directions);
  double pipelined = compare(s, program, gradients, loss, gpuRef);
  double references = worstOfReferences(gpuRef, cpuRef);
  bool passed = pipelined <= 1e-5 && references <= 1e-4;
  std::printf("schedule %s: %d ranks %s, %d micro-batches, %d stages\n",
              program.schedule, program.numRanks(), where.c_str(),
              program.microbatches, program.blocks * program.directions);
  std::printf("loss %.9g (sequential reference on the GPU %.9g, on the CPU "
              "%.9g)\n",
              loss, gpuRef.loss, cpuRef.loss);
  std::printf("max relative difference of loss and weight gradients: %.3g "
              "(limit 1e-05): %s\n",
              pipelined, pipelined <= 1e-5 ? "PASS" : "FAIL");
  std::printf("GPU reference against the CPU model: %.3g (limit 1e-04): %s\n",
              references, references <= 1e-4 ? "PASS" : "FAIL");
  std::printf("step time %.3f ms (median of %d step%s, rank 0, CUDA "
              "backend)\n",
              stepSeconds * 1e3, steps, steps == 1 ? "" : "s");
  std::fflush(stdout);
  return passed;
}

/// Contexts of the schedules run so far, destroyed at the end:
/// pwrt_codegen keeps its per-context state by address, so a context must
/// not reuse the address of a destroyed one within a process.
std::vector<std::vector<pwrt_context *>> finished;

/// Destroys every finished group of contexts (collective within a group:
/// one thread per rank); whether all went well.
bool destroyFinished() {
  bool ok = true;
  for (const std::vector<pwrt_context *> &contexts : finished) {
    std::vector<pwrt_status> destroyed(contexts.size(), PWRT_OK);
    std::vector<std::thread> threads;
    for (size_t r = 0; r < contexts.size(); ++r)
      threads.emplace_back(
          [&, r] { destroyed[r] = pwrt_context_destroy(contexts[r]); });
    for (std::thread &thread : threads)
      thread.join();
    for (pwrt_status status : destroyed)
      ok &= status == PWRT_OK;
  }
  finished.clear();
  return ok;
}

/// All ranks in this process, one thread each.
int runInProcess(const Program &program, int steps, int failStage) {
  int ranks = program.numRanks();
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.expected_world_size = ranks;
  std::vector<pwrt_context *> contexts(size_t(ranks), nullptr);
  if (pwrt_cuda_contexts_create(&options, ranks, nullptr, contexts.data()) !=
      PWRT_OK)
    return 1; // the runtime printed why
  std::set<int> devices;
  for (pwrt_context *ctx : contexts)
    devices.insert(pwrt_cuda_device(ctx));

  std::vector<RankResult> results(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      results[size_t(r)] =
          runRank(contexts[size_t(r)], program, steps, failStage);
    });
  for (std::thread &thread : threads)
    thread.join();
  finished.push_back(contexts);

  std::map<int, std::vector<float>> gradients;
  double loss = 0;
  for (int r = 0; r < ranks; ++r) {
    const RankResult &result = results[size_t(r)];
    if (result.status != PWRT_OK) {
      if (result.status == PWRT_ERROR_DEVICE && !result.error.empty())
        std::fprintf(stderr, "mlp-gpu[rank %d]: error: %s\n", r,
                     result.error.c_str());
      return 1;
    }
    for (const auto &[stage, gradient] : result.gradients)
      gradients[stage] = gradient;
    loss += result.loss;
  }
  std::string where =
      "in one process on " + std::to_string(devices.size()) + " GPU" +
      (devices.size() == 1 ? "" : "s") +
      (int(devices.size()) < ranks ? " (local transport)" : " (NCCL)");
  return check(mlp::Shape(), program, *devices.begin(), gradients, loss, where,
               median(results[0].stepSeconds), steps)
             ? 0
             : 1;
}

#ifdef MLP_GPU_WITH_MPI
/// One rank per process (mpirun), NCCL between them.
int runAsProcess(const Program &program, int steps, int failStage) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.expected_world_size = program.numRanks();
  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK)
    return 1; // printed by the runtime, on every rank
  int rank = pwrt_rank(ctx);
  finished.push_back({ctx});
  RankResult result = runRank(ctx, program, steps, failStage);
  if (result.status != PWRT_OK) {
    if (result.status == PWRT_ERROR_DEVICE)
      std::fprintf(stderr, "mlp-gpu[rank %d]: error: %s\n", rank,
                   result.error.c_str());
    return 1;
  }
  mlp::Shape shape;
  int stages = program.blocks * program.directions;
  size_t perBlock = blockFloats(shape);
  std::vector<float> local(size_t(stages) * perBlock, 0.0f), all(local.size());
  for (const auto &[stage, gradient] : result.gradients)
    std::copy(gradient.begin(), gradient.end(),
              local.begin() + size_t(stage) * perBlock);
  MPI_Allreduce(local.data(), all.data(), int(local.size()), MPI_FLOAT, MPI_SUM,
                MPI_COMM_WORLD);
  double loss = 0;
  MPI_Allreduce(&result.loss, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  int passed = 1;
  if (rank == 0) {
    std::map<int, std::vector<float>> gradients;
    for (int stage = 0; stage < stages; ++stage)
      gradients[stage].assign(all.begin() + size_t(stage) * perBlock,
                              all.begin() + size_t(stage + 1) * perBlock);
    passed =
        check(shape, program, pwrt_cuda_device(ctx), gradients, loss,
              "in " + std::to_string(program.numRanks()) + " processes (NCCL)",
              median(result.stepSeconds), steps);
  }
  MPI_Bcast(&passed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return passed ? 0 : 1;
}
#endif

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s [--schedule dualpipe|dualpipev|1f1b|zb-h1|all] "
               "[--steps N] [--fail-stage S] [--processes]\n",
               argv0);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<const Program *> programs = {&mlp::kPrograms[0]};
  int steps = 1, failStage = -1;
  bool processes = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--schedule") && i + 1 < argc) {
      const char *name = argv[++i];
      programs.clear();
      if (!std::strcmp(name, "all")) {
        for (const Program &program : mlp::kPrograms)
          programs.push_back(&program);
      } else if (const Program *program = mlp::findProgram(name)) {
        programs.push_back(program);
      } else {
        std::fprintf(stderr, "mlp-gpu: error: unknown schedule '%s'\n", name);
        return usage(argv[0]);
      }
    } else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
      if (steps < 1)
        return usage(argv[0]);
    } else if (!std::strcmp(argv[i], "--fail-stage") && i + 1 < argc) {
      failStage = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--processes")) {
      processes = true;
    } else {
      return usage(argv[0]);
    }
  }
#ifndef MLP_GPU_WITH_MPI
  if (processes) {
    std::fprintf(stderr, "mlp-gpu: error: --processes needs MPI, and this "
                         "program was built without it\n");
    return 2;
  }
#endif

  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    std::printf("mlp-gpu: no GPU: %s; nothing to run\n",
                rc != cudaSuccess ? cudaGetErrorString(rc)
                                  : "cudaGetDeviceCount says 0");
    return kNoGpu;
  }

  int status = 0;
  for (const Program *program : programs) {
#ifdef MLP_GPU_WITH_MPI
    if (processes) {
      status |= runAsProcess(*program, steps, failStage);
      continue;
    }
#endif
    status |= runInProcess(*program, steps, failStage);
  }
  if (!destroyFinished())
    status |= 1; // the runtime printed why
  return status;
}
