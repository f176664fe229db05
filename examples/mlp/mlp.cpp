//===- mlp.cpp - one training step of a compiled schedule, checked --------===//
//
// Runs one step of the MLP of DualPipe's example under a schedule that pwc
// compiled ahead of time (DualPipe, DualPipeV, 1F1B or ZB-H1), one process
// per rank on the runtime's host backend, and checks the loss and every
// weight gradient against an unpipelined step computed in the same program.
//
//   mpirun -np 8 mlp [--schedule dualpipe|dualpipev|1f1b|zb-h1]
//
//===----------------------------------------------------------------------===//

#include "Model.h"
#include "Programs.h"

#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace {

using mlp::kPrograms;
using mlp::Program;

/// What the kernels of one rank share.
struct RankState {
  mlp::Shape shape;
  const Program *program = nullptr;
  std::vector<mlp::Block> params;      // by block
  std::map<int, mlp::Block> gradients; // by stage
  double loss = 0;
  int fail = -1; // a stage whose forward fails on purpose (--fail-stage)
};

RankState &stateOf(const pwrt_kernel_args *args) {
  return *static_cast<RankState *>(args->user_data);
}

int blockOf(const RankState &s, int stage) { return stage % s.program->blocks; }
int directionOf(const RankState &s, int stage) {
  return stage / s.program->blocks;
}

float *data(const pwrt_buffer &buffer) {
  return static_cast<float *>(buffer.data);
}

/// Fails the kernel when a buffer has another size than the model needs.
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

pwrt_status forwardKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  if (args->stage == s.fail) {
    pwrt_kernel_set_error(args, "failing on purpose (--fail-stage)");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  if (!checkSize(args, args->inputs[0], s.shape.activationBytes(), "input") ||
      !checkSize(args, args->outputs[0], s.shape.activationBytes(), "output") ||
      !checkSize(args, args->outputs[1], s.shape.savedBytes(), "saved"))
    return PWRT_ERROR_KERNEL_FAILED;
  std::vector<float> generated;
  const float *x = data(args->inputs[0]);
  if (!x) { // a first stage reads its micro-batch
    generated =
        mlp::input(s.shape, directionOf(s, args->stage), args->microbatch);
    x = generated.data();
  }
  mlp::forward(s.shape, s.params[blockOf(s, args->stage)], x,
               data(args->outputs[1]), data(args->outputs[0]));
  return PWRT_OK;
}

pwrt_status lossKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  std::vector<float> t =
      mlp::target(s.shape, directionOf(s, args->stage), args->microbatch);
  s.loss += mlp::loss(s.shape, data(args->inputs[0]), t.data(),
                      data(args->outputs[0]), s.program->microbatches);
  return PWRT_OK;
}

pwrt_status backwardInputKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  mlp::backwardInput(s.shape, s.params[blockOf(s, args->stage)],
                     data(args->inputs[0]), data(args->inputs[1]),
                     data(args->outputs[0]));
  return PWRT_OK;
}

pwrt_status backwardWeightKernel(const pwrt_kernel_args *args) {
  RankState &s = stateOf(args);
  auto [it, inserted] = s.gradients.try_emplace(args->stage, s.shape);
  if (inserted)
    it->second.zero();
  mlp::backwardWeight(s.shape, s.params[blockOf(s, args->stage)],
                      data(args->inputs[0]), data(args->inputs[1]), it->second);
  return PWRT_OK;
}

pwrt_status backwardKernel(const pwrt_kernel_args *args) {
  pwrt_status status = backwardWeightKernel(args);
  return status == PWRT_OK ? backwardInputKernel(args) : status;
}

/// Sums a block's tensors over all ranks into one flat vector per stage.
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

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: mpirun -np 8 %s [--schedule dualpipe|dualpipev|1f1b|"
               "zb-h1] [--fail-stage S]\n",
               argv0);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  const Program *program = &kPrograms[0];
  int failStage = -1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--schedule") && i + 1 < argc) {
      program = mlp::findProgram(argv[++i]);
      if (!program) {
        std::fprintf(stderr, "mlp: error: unknown schedule '%s'\n", argv[i]);
        return usage(argv[0]);
      }
    } else if (!std::strcmp(argv[i], "--fail-stage") && i + 1 < argc) {
      failStage = std::atoi(argv[++i]);
    } else {
      return usage(argv[0]);
    }
  }

  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.expected_world_size = program->numRanks();
  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK) {
    std::fprintf(stderr, "mlp: error: %s\n", pwrt_last_error(nullptr));
    return 1;
  }
  int rank = pwrt_rank(ctx);

  RankState state;
  state.program = program;
  state.fail = failStage;
  for (int b = 0; b < program->blocks; ++b)
    state.params.push_back(mlp::initialBlock(state.shape, b));
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

  auto start = std::chrono::steady_clock::now();
  pwrt_status status = program->step(ctx);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (status != PWRT_OK) {
    // The runtime has printed the reason on every rank.
    pwrt_context_destroy(ctx);
    return 1;
  }

  // Every stage's gradient, summed over ranks (each stage lives on one).
  int stages = program->blocks * program->directions;
  size_t perBlock = flatten(mlp::Block(state.shape)).size();
  std::vector<float> local(stages * perBlock, 0.0f), all(local.size());
  for (const auto &[stage, gradient] : state.gradients) {
    std::vector<float> flat = flatten(gradient);
    std::copy(flat.begin(), flat.end(), local.begin() + stage * perBlock);
  }
  MPI_Allreduce(local.data(), all.data(), static_cast<int>(local.size()),
                MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double loss = 0;
  MPI_Allreduce(&state.loss, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);

  int passed = 1;
  if (rank == 0) {
    mlp::Reference ref =
        mlp::sequentialStep(state.shape, program->blocks, program->directions,
                            program->microbatches / program->directions);
    double worst = 0;
    for (int b = 0; b < program->blocks; ++b) {
      // DualPipe keeps one copy of each block per direction.
      mlp::Block sum(state.shape);
      sum.zero();
      for (int d = 0; d < program->directions; ++d) {
        mlp::Block part = unflatten(
            state.shape, all.data() + (d * program->blocks + b) * perBlock);
        for (size_t i = 0; i < sum.w1.size(); ++i)
          sum.w1[i] += part.w1[i];
        for (size_t i = 0; i < sum.b1.size(); ++i)
          sum.b1[i] += part.b1[i];
        for (size_t i = 0; i < sum.w2.size(); ++i)
          sum.w2[i] += part.w2[i];
        for (size_t i = 0; i < sum.b2.size(); ++i)
          sum.b2[i] += part.b2[i];
      }
      worst = std::max(worst, mlp::relativeDifference(sum, ref.grads[b]));
    }
    double lossDiff = std::fabs(loss - ref.loss) / std::fabs(ref.loss);
    worst = std::max(worst, lossDiff);
    passed = worst <= 1e-5;
    std::printf("schedule %s: %d ranks, %d micro-batches, %d stages\n",
                program->schedule, program->numRanks(), program->microbatches,
                stages);
    std::printf("loss %.9g (sequential reference %.9g)\n", loss, ref.loss);
    std::printf("max relative difference of loss and weight gradients: %.3g "
                "(limit 1e-05): %s\n",
                worst, passed ? "PASS" : "FAIL");
    std::printf("step time %.3f s (rank 0, host backend)\n", seconds);
  }
  MPI_Bcast(&passed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  status = pwrt_context_destroy(ctx);
  return passed && status == PWRT_OK ? 0 : 1;
}
