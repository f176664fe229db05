//===- moe.cpp - one MoE training step, pipeline x expert parallel --------===//
//
// Runs one training step of the model in Model.h under a pipeline schedule
// (DualPipe by default) on R pipeline ranks times E expert-parallel
// processes (R * E processes: process p is pipeline rank p / E,
// expert-parallel index p % E; pipeline messages go between the processes
// of equal index), on the runtime's host backend, and checks the loss and
// every weight gradient against the sequential reference computed in the
// same program.
//
//   mpirun -np 8 moe [--schedule KIND] [--ranks R] [--microbatches N]
//                    [--layers-per-stage L] [--dispatch-capacity ROWS]
//   moe [options] --print-loads | --check-programs
//
// The E processes of a pipeline rank run the same stages on different
// tokens (attention replicated, i.e. data parallel) and hold the expert
// slots of an EPLB placement computed from the router's loads
// (passes/Eplb); their dispatch and combine are pwrt_all_to_all calls in
// their group. With DualPipe each rank holds two stages, r and 2R-1-r: the
// model's chunk r for the micro-batches entering at rank 0 and chunk R-1-r
// for those entering at rank R-1, each with its own copy of the chunk's
// parameters (their gradients add up).
//
// The step is what pipeweave's compiler emits for the schedule
// (moe_dualpipe.mlir is its spec), issued by Program.cpp until the compiler
// lowers component chains: per action the components' kernels on a
// "compute" stream, all-to-alls and pipeline messages on a "comm" stream,
// events only where one stream uses a slot the other wrote. With DualPipe
// the overlapped pairs interleave a forward's and a backward's components,
// so that one's all-to-alls run while the other's kernels compute.
//
// --program compiled runs moe_dualpipe_step, the step pwc compiles from
// moe_dualpipe.mlir (same kernels, same check); the default, hand, runs
// Program.cpp's driver.
// --dispatch-capacity ROWS shrinks the dispatch's receive slots to ROWS
// rows (default: every row of the group), to see the runtime's capacity
// error. --print-loads prints the expert loads the router produces (what
// moe_dualpipe.mlir's moe.expert_group has) and exits; --check-programs
// checks the events of every process's program (Program.h) and exits.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "Model.h"
#include "Program.h"
#include "moe_dualpipe.h"

#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace moe;
namespace schedule = pipeweave::schedule;

namespace {

//===----------------------------------------------------------------------===//
// Gradient check
//===----------------------------------------------------------------------===//

std::vector<float> flatten(const Attention &a) {
  std::vector<float> flat;
  for (const std::vector<float> *v : {&a.wa, &a.ba, &a.wr})
    flat.insert(flat.end(), v->begin(), v->end());
  return flat;
}

std::vector<float> flatten(const Expert &e) {
  std::vector<float> flat;
  for (const std::vector<float> *v : {&e.w1, &e.b1, &e.w2, &e.b2})
    flat.insert(flat.end(), v->begin(), v->end());
  return flat;
}

template <typename Params>
void unflatten(const float *flat, Params &params,
               std::initializer_list<std::vector<float> *> tensors) {
  for (std::vector<float> *v : tensors) {
    std::copy(flat, flat + v->size(), v->begin());
    flat += v->size();
  }
  (void)params;
}

/// Every process's gradients summed over all processes, as layers of
/// logical experts: attention gradients add over the expert-parallel group
/// (data parallel), replica gradients add per logical expert.
std::vector<Layer> gatherGradients(const ProcessState &state) {
  const Shape &s = state.shape;
  size_t attentionSize = flatten(Attention(s)).size();
  size_t expertSize = flatten(Expert(s)).size();
  size_t perLayer = attentionSize + size_t(s.experts) * expertSize;
  std::vector<float> local(size_t(s.layers()) * perLayer, 0.0f),
      all(local.size());
  for (const auto &[layer, grad] : state.attentionGrads) {
    std::vector<float> flat = flatten(grad);
    std::copy(flat.begin(), flat.end(), local.begin() + layer * perLayer);
  }
  for (const auto &[key, grad] : state.expertGrads) {
    auto [layer, slot] = key;
    int expert = state.placement.expertOf(s, layer, slot);
    std::vector<float> flat = flatten(grad);
    float *at =
        local.data() + layer * perLayer + attentionSize + expert * expertSize;
    for (size_t i = 0; i < flat.size(); ++i)
      at[i] += flat[i];
  }
  MPI_Allreduce(local.data(), all.data(), int(local.size()), MPI_FLOAT, MPI_SUM,
                MPI_COMM_WORLD);
  std::vector<Layer> layers(size_t(s.layers()), Layer(s));
  for (int l = 0; l < s.layers(); ++l) {
    const float *flat = all.data() + l * perLayer;
    Attention &a = layers[size_t(l)].attention;
    unflatten(flat, a, {&a.wa, &a.ba, &a.wr});
    for (int e = 0; e < s.experts; ++e) {
      Expert &x = layers[size_t(l)].experts[size_t(e)];
      unflatten(flat + attentionSize + e * expertSize, x,
                {&x.w1, &x.b1, &x.w2, &x.b2});
    }
  }
  return layers;
}

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: mpirun -np R*2 %s [--schedule %s] [--ranks R] "
               "[--microbatches N] [--layers-per-stage L] "
               "[--dispatch-capacity ROWS] [--program hand|compiled]\n"
               "       %s [options] --print-loads | --check-programs\n",
               argv0, schedule::scheduleKindList().c_str(), argv0);
  return 2;
}

/// The router's loads as the dense literal of moe_dualpipe.mlir's
/// moe.expert_group.
void printLoads(const Shape &shape, const std::vector<double> &loads) {
  std::printf("loads = dense<[");
  for (int l = 0; l < shape.layers(); ++l) {
    std::printf("%s[", l ? ", " : "");
    for (int e = 0; e < shape.experts; ++e)
      std::printf("%s%.1f", e ? ", " : "",
                  loads[size_t(l * shape.experts + e)]);
    std::printf("]");
  }
  std::printf("]> : tensor<%dx%dxf32>\n", shape.layers(), shape.experts);
}

/// Builds every process's program and checks its events (no MPI needed):
/// every two uses of a slot on different streams are ordered, and no wait
/// is redundant.
int checkAllPrograms(const schedule::Schedule &plan, const Shape &shape) {
  int waits = 0, processes = plan.numRanks * shape.parallel;
  for (int process = 0; process < processes; ++process) {
    RankProgram program;
    std::optional<std::string> problem =
        program.build(plan, moeLayer(shape), shape, process / shape.parallel,
                      process % shape.parallel);
    if (!problem)
      problem = program.checkEvents();
    if (problem) {
      std::printf("process %d: %s: FAIL\n", process, problem->c_str());
      return 1;
    }
    for (const RankProgram::Op &op : program.ops())
      waits += int(op.waits.size());
  }
  std::printf("%d programs: every slot used on both streams is ordered by "
              "an event, and each of their %d waits is needed: PASS\n",
              processes, waits);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string kindName = "dualpipe";
  int ranks = 4, microbatches = 8, layersPerStage = 2, dispatchCapacity = -1;
  bool printOnlyLoads = false, checkPrograms = false, compiled = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int *number = arg == "--ranks"               ? &ranks
                  : arg == "--microbatches"      ? &microbatches
                  : arg == "--layers-per-stage"  ? &layersPerStage
                  : arg == "--dispatch-capacity" ? &dispatchCapacity
                                                 : nullptr;
    if (number) {
      char *end = nullptr;
      long value = i + 1 < argc ? std::strtol(argv[++i], &end, 10) : 0;
      if (!end || *end != '\0' || value <= 0 || value > 1000000)
        return usage(argv[0]);
      *number = int(value);
    } else if (arg == "--schedule" && i + 1 < argc) {
      kindName = argv[++i];
    } else if (arg == "--program" && i + 1 < argc) {
      std::string which = argv[++i];
      if (which != "compiled" && which != "hand")
        return usage(argv[0]);
      compiled = which == "compiled";
    } else if (arg == "--print-loads") {
      printOnlyLoads = true;
    } else if (arg == "--check-programs") {
      checkPrograms = true;
    } else {
      return usage(argv[0]);
    }
  }

  // The schedule, with communication, as the compiler builds it.
  std::optional<schedule::ScheduleKind> kind =
      schedule::parseScheduleKind(kindName);
  if (!kind)
    return usage(argv[0]);
  schedule::ScheduleParams params;
  params.kind = *kind;
  params.ranks = ranks;
  params.microbatches = microbatches;
  if (std::optional<std::string> problem =
          schedule::checkScheduleParams(params)) {
    std::fprintf(stderr, "moe: error: %s\n", problem->c_str());
    return 2;
  }
  schedule::Schedule plan =
      schedule::insertCommunication(schedule::generateSchedule(params));
  Shape shape;
  shape.stages = plan.numStages;
  shape.directions = plan.numDirections;
  shape.microbatches = plan.numMicrobatches;
  shape.layersPerStage = layersPerStage;

  // Every process builds the model and the reference itself (small); the
  // reference's routing gives the expert loads EPLB places replicas for.
  std::vector<Layer> model = initialModel(shape);
  Reference reference = sequentialStep(shape, model);
  if (printOnlyLoads) {
    printLoads(shape, reference.loads);
    return 0;
  }
  if (checkPrograms)
    return checkAllPrograms(plan, shape);
  // The compiled step is moe_dualpipe.mlir's: DualPipe, 4 ranks, 8
  // micro-batches, 2 layers per stage.
  if (compiled &&
      (*kind != schedule::ScheduleKind::DualPipe || ranks != 4 ||
       microbatches != 8 || layersPerStage != 2 || dispatchCapacity > 0)) {
    std::fprintf(stderr, "moe: error: --program compiled runs "
                         "moe_dualpipe.mlir's step: --schedule dualpipe, "
                         "--ranks 4, --microbatches 8, --layers-per-stage 2, "
                         "no --dispatch-capacity\n");
    return 2;
  }

  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.expected_world_size = ranks * shape.parallel;
  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK) {
    std::fprintf(stderr, "moe: error: %s\n", pwrt_last_error(nullptr));
    return 1;
  }
  int rank = pwrt_rank(ctx);

  Placement placement;
  std::string problem;
  if (!placeExperts(shape, reference.loads, placement, problem)) {
    std::fprintf(stderr, "moe: error: EPLB: %s\n", problem.c_str());
    pwrt_context_destroy(ctx);
    return 1;
  }

  std::vector<ComponentSpec> layer = moeLayer(shape);
  if (dispatchCapacity > 0)
    for (ComponentSpec &component : layer)
      if (component.name == "dispatch")
        component.receiveRows = size_t(dispatchCapacity);
  RankProgram program;
  if (std::optional<std::string> error = program.build(
          plan, layer, shape, rank / shape.parallel, rank % shape.parallel)) {
    std::fprintf(stderr, "moe: error: %s\n", error->c_str());
    pwrt_context_destroy(ctx);
    return 1;
  }

  ProcessState state(shape, model, placement, rank % shape.parallel);
  registerKernels(ctx, state);
  std::vector<std::string> names = program.kernels();
  std::vector<const char *> required;
  for (const std::string &name : names)
    required.push_back(name.c_str());
  // The compiled step requires its kernels and sets itself up.
  if (!compiled &&
      (pwrt_require_kernels(ctx, required.data(), required.size()) != PWRT_OK ||
       program.setUp(ctx) != PWRT_OK)) {
    std::fprintf(stderr, "moe: error: %s\n", pwrt_last_error(ctx));
    pwrt_context_destroy(ctx);
    return 1;
  }

  auto start = std::chrono::steady_clock::now();
  pwrt_status status = compiled ? moe_dualpipe_step(ctx) : program.step();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (status != PWRT_OK) {
    // The runtime has printed the reason on every rank.
    pwrt_context_destroy(ctx);
    return 1;
  }

  // Every forward's saved state was used by its backward.
  int leftover = int(state.savedEntries()), leftovers = 0;
  MPI_Allreduce(&leftover, &leftovers, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  std::vector<Layer> grads = gatherGradients(state);
  double loss = 0;
  MPI_Allreduce(&state.loss, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  int64_t rows[2] = {state.rowsDispatched, state.rowsDispatchedAway}, sums[2];
  MPI_Allreduce(rows, sums, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);

  int passed = 1;
  if (rank == 0) {
    double worst = std::fabs(loss - reference.loss) / std::fabs(reference.loss);
    for (int l = 0; l < shape.layers(); ++l)
      worst = std::max(worst, relativeDifference(grads[size_t(l)],
                                                 reference.grads[size_t(l)]));
    passed = worst <= 1e-5 && leftovers == 0;
    RankProgram::Counts counts = program.counts();
    std::printf("moe: %s on %d pipeline ranks x %d expert-parallel = %d "
                "processes; %d stages of %d layers (%d model layers, %d "
                "direction%s), %d experts (top-%d) in %d slots per layer, %d "
                "micro-batches of %d tokens\n",
                kindName.c_str(), ranks, shape.parallel, ranks * shape.parallel,
                shape.stages, shape.layersPerStage, shape.layers(),
                shape.directions, shape.directions > 1 ? "s" : "",
                shape.experts, shape.topk, shape.slots, shape.microbatches,
                shape.microbatchTokens());
    if (compiled)
      std::printf("the step compiled from moe_dualpipe.mlir by pwc\n");
    else
      std::printf("process 0 issues %d launches, %d all-to-alls, %d p2p "
                  "groups, %d events; pool %zu bytes\n",
                  counts.launches, counts.allToAlls, counts.transferGroups,
                  counts.events, counts.poolBytes);
    std::printf("EPLB replicas per expert, by layer:");
    for (int l = 0; l < shape.layers(); ++l) {
      std::printf(" ");
      for (int e = 0; e < shape.experts; ++e)
        std::printf("%lld",
                    (long long)placement.logcnt[size_t(l * shape.experts + e)]);
    }
    std::printf("\ndispatched %lld rows, %lld of them to the other "
                "expert-parallel process\n",
                (long long)sums[0], (long long)sums[1]);
    if (leftovers)
      std::printf("saved state left after the step: %d entries (FAIL)\n",
                  leftovers);
    std::printf("loss %.9g (sequential reference %.9g)\n", loss,
                reference.loss);
    std::printf("max relative difference of loss and weight gradients: %.3g "
                "(limit 1e-05): %s\n",
                worst, passed ? "PASS" : "FAIL");
    std::printf("step time %.3f s (rank 0, host backend)\n", seconds);
  }
  MPI_Bcast(&passed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  status = pwrt_context_destroy(ctx);
  return passed && status == PWRT_OK ? 0 : 1;
}
