//===- moe.cpp - one MoE training step, pipeline x expert parallel --------===//
//
// Runs one training step of the model in Model.h on R pipeline ranks times
// E expert-parallel processes (R * E processes: process p is pipeline rank
// p / E, expert-parallel index p % E; pipeline messages go between the
// processes of equal index), on the runtime's host backend, and checks the
// loss and every weight gradient against the sequential reference computed
// in the same program.
//
//   mpirun -np 8 moe [--dispatch-capacity ROWS]
//
// The E processes of a pipeline rank run the same stage on different tokens
// (attention replicated, i.e. data parallel) and hold the expert slots of
// an EPLB placement computed from the router's loads (passes/Eplb); their
// dispatch and combine are pwrt_all_to_all calls in their group.
//
// The step is driven by hand through the runtime ABI (a compiled schedule
// will replace this driver): GPipe order, every forward then every
// backward, micro-batches in pairs whose components interleave, so that
// one micro-batch's all-to-all runs while the other's attention or experts
// compute. Three streams: "compute" (kernels), "comm" (all-to-alls), "p2p"
// (pipeline messages); events connect them exactly where data crosses.
//
// --dispatch-capacity ROWS shrinks the forward dispatch's receive buffers
// to ROWS rows (default: every row of the group), to see the runtime's
// capacity error.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "Model.h"

#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace moe;

namespace {

/// A slot of the pool.
struct Slot {
  size_t offset = 0, bytes = 0;
  void *data = nullptr;
  pwrt_buffer buffer() const { return {data, bytes}; }
};

/// The pool slots of one layer of one micro-batch: the all-to-alls' send
/// and receive buffers (forward dispatch and combine, then their
/// backwards), the layer's output and the gradient of its input.
struct LayerSlots {
  Slot dispatchSend, dispatchRecv, combineSend, combineRecv;
  Slot combineBackSend, combineBackRecv, dispatchBackSend, dispatchBackRecv;
  Slot output, inputGradient;
};

struct MicrobatchSlots {
  Slot input;          // from the previous pipeline rank
  Slot outputGradient; // from the next pipeline rank, or the loss
  std::vector<LayerSlots> layers;
};

enum LayerEvent {
  kAttnDone,
  kDispatched,
  kMlpDone,
  kCombined,
  kCombineBackwardDone,
  kCombinedBack,
  kMlpBackwardDone,
  kDispatchedBack,
  kNumLayerEvents
};
enum MicrobatchEvent {
  kInputArrived,
  kOutputReady,
  kGradientArrived,
  kInputGradientReady,
  kNumMicrobatchEvents
};

class Driver {
public:
  Driver(pwrt_context *ctx, const Shape &shape, int dispatchCapacity)
      : ctx(ctx), s(shape), rank(pwrt_rank(ctx)), pipe(rank / shape.parallel),
        parallelIndex(rank % shape.parallel),
        dispatchCapacity(dispatchCapacity) {}

  /// Group, streams, events, pool slots; kernels must be registered.
  bool setUp();
  /// Enqueues one step and ends it (collective).
  pwrt_status step();

private:
  void check(pwrt_status status, const char *what);
  pwrt_event event(int mb, int layer, LayerEvent which) const {
    return events[size_t((mb * s.layersPerStage + layer) * kNumLayerEvents +
                         which)];
  }
  pwrt_event event(int mb, MicrobatchEvent which) const {
    return events[size_t(s.microbatches * s.layersPerStage * kNumLayerEvents +
                         mb * kNumMicrobatchEvents + which)];
  }
  void record(pwrt_stream stream, pwrt_event e) {
    check(pwrt_event_record(ctx, stream, e), "pwrt_event_record");
  }
  void wait(pwrt_stream stream, pwrt_event e) {
    check(pwrt_stream_wait_event(ctx, stream, e), "pwrt_stream_wait_event");
  }
  void launch(Component component, int layer, pwrt_action_kind kind, int mb,
              std::vector<pwrt_buffer> inputs,
              std::vector<pwrt_buffer> outputs);
  void launchLoss(int mb);
  void allToAll(const Slot &send, const Slot &recv, size_t rowBytes,
                const char *name, pwrt_action_kind kind, int mb, int layer);
  void transfer(bool isSend, const Slot &slot, int peer, int tag,
                pwrt_payload payload, int mb);
  void forward(const std::vector<int> &wave);
  void backward(const std::vector<int> &wave);

  pwrt_context *ctx;
  const Shape &s;
  const int rank, pipe, parallelIndex, dispatchCapacity;
  pwrt_group group = -1;
  pwrt_stream compute = -1, comm = -1, p2p = -1;
  std::map<std::string, pwrt_kernel> kernels;
  std::vector<MicrobatchSlots> slots;
  std::vector<pwrt_event> events;
  bool failed = false;
};

void Driver::check(pwrt_status status, const char *what) {
  if (status == PWRT_OK || failed)
    return;
  // Fail the step everywhere but keep enqueueing, so that no peer waits
  // for a transfer this process left out.
  failed = true;
  std::string message = std::string(what) + ": " + pwrt_last_error(ctx);
  pwrt_step_fail(ctx, status, message.c_str());
}

bool Driver::setUp() {
  std::vector<int32_t> members;
  for (int i = 0; i < s.parallel; ++i)
    members.push_back(pipe * s.parallel + i);
  if (pwrt_group_create(ctx, members.data(), members.size(), &group) !=
          PWRT_OK ||
      pwrt_stream_create(ctx, "compute", &compute) != PWRT_OK ||
      pwrt_stream_create(ctx, "comm", &comm) != PWRT_OK ||
      pwrt_stream_create(ctx, "p2p", &p2p) != PWRT_OK)
    return false;
  events.resize(size_t(s.microbatches * (s.layersPerStage * kNumLayerEvents +
                                         kNumMicrobatchEvents)));
  for (pwrt_event &e : events)
    if (pwrt_event_create(ctx, &e) != PWRT_OK)
      return false;

  // The static buffer plan: every slot of the step its own bytes, 64-byte
  // aligned. All-to-all buffers hold the most rows they can meet: a
  // process's T*k rows on the way out, the group's E*T*k on the way in.
  size_t total = 0;
  auto add = [&](Slot &slot, size_t bytes) {
    slot.offset = (total + 63) / 64 * 64;
    slot.bytes = bytes;
    total = slot.offset + bytes;
  };
  size_t own = size_t(s.tokens * s.topk), group = own * size_t(s.parallel);
  size_t dispatchIn = dispatchCapacity >= 0 ? size_t(dispatchCapacity) : group;
  size_t dispatchRow = dispatchRowBytes(s), valueRow = valueRowBytes(s);
  slots.resize(size_t(s.microbatches));
  for (MicrobatchSlots &mb : slots) {
    add(mb.input, s.activationBytes());
    add(mb.outputGradient, s.activationBytes());
    mb.layers.resize(size_t(s.layersPerStage));
    for (LayerSlots &l : mb.layers) {
      add(l.dispatchSend, allToAllBytes(s, own, dispatchRow));
      add(l.dispatchRecv, allToAllBytes(s, dispatchIn, dispatchRow));
      add(l.combineSend, allToAllBytes(s, group, valueRow));
      add(l.combineRecv, allToAllBytes(s, own, valueRow));
      add(l.combineBackSend, allToAllBytes(s, own, valueRow));
      add(l.combineBackRecv, allToAllBytes(s, group, valueRow));
      add(l.dispatchBackSend, allToAllBytes(s, group, valueRow));
      add(l.dispatchBackRecv, allToAllBytes(s, own, valueRow));
      add(l.output, s.activationBytes());
      add(l.inputGradient, s.activationBytes());
    }
  }
  if (pwrt_pool_create(ctx, total, 0) != PWRT_OK)
    return false;
  auto place = [&](Slot &slot) {
    return pwrt_buffer_at(ctx, slot.offset, slot.bytes, &slot.data) == PWRT_OK;
  };
  for (MicrobatchSlots &mb : slots) {
    bool ok = place(mb.input) && place(mb.outputGradient);
    for (LayerSlots &l : mb.layers)
      for (Slot *slot :
           {&l.dispatchSend, &l.dispatchRecv, &l.combineSend, &l.combineRecv,
            &l.combineBackSend, &l.combineBackRecv, &l.dispatchBackSend,
            &l.dispatchBackRecv, &l.output, &l.inputGradient})
        ok = ok && place(*slot);
    if (!ok)
      return false;
  }

  for (int layer = 0; layer < s.layersPerStage; ++layer)
    for (int c = 0; c < kNumComponents; ++c) {
      std::string name = kernelName(Component(c), layer);
      if (pwrt_kernel_lookup(ctx, name.c_str(), &kernels[name]) != PWRT_OK)
        return false;
    }
  return pwrt_kernel_lookup(ctx, kLossKernel, &kernels[kLossKernel]) == PWRT_OK;
}

void Driver::launch(Component component, int layer, pwrt_action_kind kind,
                    int mb, std::vector<pwrt_buffer> inputs,
                    std::vector<pwrt_buffer> outputs) {
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.kind = kind;
  args.stage = pipe;
  args.microbatch = mb;
  args.stage2 = args.microbatch2 = -1;
  args.inputs = inputs.data();
  args.num_inputs = inputs.size();
  args.outputs = outputs.data();
  args.num_outputs = outputs.size();
  check(pwrt_launch(ctx, compute, kernels[kernelName(component, layer)], &args),
        "pwrt_launch");
}

void Driver::launchLoss(int mb) {
  const MicrobatchSlots &m = slots[size_t(mb)];
  pwrt_buffer in = m.layers.back().output.buffer(),
              out = m.outputGradient.buffer();
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.kind = PWRT_ACTION_OTHER;
  args.stage = pipe;
  args.microbatch = mb;
  args.stage2 = args.microbatch2 = -1;
  args.inputs = &in;
  args.num_inputs = 1;
  args.outputs = &out;
  args.num_outputs = 1;
  check(pwrt_launch(ctx, compute, kernels[kLossKernel], &args), "pwrt_launch");
}

void Driver::allToAll(const Slot &send, const Slot &recv, size_t rowBytes,
                      const char *name, pwrt_action_kind kind, int mb,
                      int layer) {
  pwrt_all_to_all_args args;
  std::memset(&args, 0, sizeof(args));
  args.send = send.data;
  args.send_bytes = send.bytes;
  args.recv = recv.data;
  args.recv_bytes = recv.bytes;
  args.row_bytes = rowBytes;
  args.name = name;
  args.kind = kind;
  args.stage = pipe;
  args.microbatch = mb;
  args.layer = layer;
  check(pwrt_all_to_all(ctx, comm, group, &args), "pwrt_all_to_all");
}

void Driver::transfer(bool isSend, const Slot &slot, int peer, int tag,
                      pwrt_payload payload, int mb) {
  pwrt_transfer message = {slot.data, slot.bytes, peer, tag, payload, pipe, mb};
  check(isSend ? pwrt_send(ctx, p2p, &message) : pwrt_recv(ctx, p2p, &message),
        isSend ? "pwrt_send" : "pwrt_recv");
}

/// The forward of a wave of micro-batches: each layer's components in
/// turn for every micro-batch of the wave, so that the compute stream has
/// the next micro-batch's work while this one's all-to-all is in flight.
void Driver::forward(const std::vector<int> &wave) {
  int L = s.layersPerStage;
  bool first = pipe == 0, last = pipe == s.stages - 1;
  int previous = (pipe - 1) * s.parallel + parallelIndex;
  int next = (pipe + 1) * s.parallel + parallelIndex;
  size_t dispatchRow = dispatchRowBytes(s), valueRow = valueRowBytes(s);
  if (!first)
    for (int mb : wave) {
      transfer(false, slots[size_t(mb)].input, previous, 2 * mb,
               PWRT_PAYLOAD_ACTIVATION, mb);
      record(p2p, event(mb, kInputArrived));
    }
  for (int l = 0; l < L; ++l) {
    for (int mb : wave) {
      MicrobatchSlots &m = slots[size_t(mb)];
      LayerSlots &ls = m.layers[size_t(l)];
      pwrt_buffer input = l > 0   ? m.layers[size_t(l - 1)].output.buffer()
                          : first ? pwrt_buffer{nullptr, 0}
                                  : m.input.buffer();
      if (l == 0 && !first)
        wait(compute, event(mb, kInputArrived));
      launch(Component::AttnForward, l, PWRT_ACTION_FORWARD, mb, {input},
             {ls.dispatchSend.buffer()});
      record(compute, event(mb, l, kAttnDone));
      wait(comm, event(mb, l, kAttnDone));
      allToAll(ls.dispatchSend, ls.dispatchRecv, dispatchRow, "dispatch",
               PWRT_ACTION_FORWARD, mb, l);
      record(comm, event(mb, l, kDispatched));
    }
    for (int mb : wave) {
      LayerSlots &ls = slots[size_t(mb)].layers[size_t(l)];
      wait(compute, event(mb, l, kDispatched));
      launch(Component::MlpForward, l, PWRT_ACTION_FORWARD, mb,
             {ls.dispatchRecv.buffer()}, {ls.combineSend.buffer()});
      record(compute, event(mb, l, kMlpDone));
      wait(comm, event(mb, l, kMlpDone));
      allToAll(ls.combineSend, ls.combineRecv, valueRow, "combine",
               PWRT_ACTION_FORWARD, mb, l);
      record(comm, event(mb, l, kCombined));
    }
    for (int mb : wave) {
      LayerSlots &ls = slots[size_t(mb)].layers[size_t(l)];
      wait(compute, event(mb, l, kCombined));
      launch(Component::CombineForward, l, PWRT_ACTION_FORWARD, mb,
             {ls.combineRecv.buffer()}, {ls.output.buffer()});
    }
  }
  for (int mb : wave) {
    if (last) {
      launchLoss(mb);
      continue;
    }
    record(compute, event(mb, kOutputReady));
    wait(p2p, event(mb, kOutputReady));
    transfer(true, slots[size_t(mb)].layers.back().output, next, 2 * mb,
             PWRT_PAYLOAD_ACTIVATION, mb);
  }
}

/// The backward of a wave, layer by layer from the last: the combine's
/// backward all-to-all, the experts' backward for input, the dispatch's
/// backward all-to-all, attention's backward for input; the weight
/// gradients right after the work they follow (off the chain, filling the
/// compute stream while the all-to-alls are in flight).
void Driver::backward(const std::vector<int> &wave) {
  int L = s.layersPerStage;
  bool first = pipe == 0, last = pipe == s.stages - 1;
  int previous = (pipe - 1) * s.parallel + parallelIndex;
  int next = (pipe + 1) * s.parallel + parallelIndex;
  size_t valueRow = valueRowBytes(s);
  if (!last)
    for (int mb : wave) {
      transfer(false, slots[size_t(mb)].outputGradient, next, 2 * mb + 1,
               PWRT_PAYLOAD_GRADIENT, mb);
      record(p2p, event(mb, kGradientArrived));
    }
  for (int l = L - 1; l >= 0; --l) {
    for (int mb : wave) {
      MicrobatchSlots &m = slots[size_t(mb)];
      LayerSlots &ls = m.layers[size_t(l)];
      pwrt_buffer outputGradient =
          l == L - 1 ? m.outputGradient.buffer()
                     : m.layers[size_t(l + 1)].inputGradient.buffer();
      if (l == L - 1 && !last)
        wait(compute, event(mb, kGradientArrived));
      launch(Component::CombineBackward, l, PWRT_ACTION_BACKWARD_INPUT, mb,
             {outputGradient}, {ls.combineBackSend.buffer()});
      record(compute, event(mb, l, kCombineBackwardDone));
      wait(comm, event(mb, l, kCombineBackwardDone));
      allToAll(ls.combineBackSend, ls.combineBackRecv, valueRow, "combine",
               PWRT_ACTION_BACKWARD, mb, l);
      record(comm, event(mb, l, kCombinedBack));
    }
    for (int mb : wave) {
      LayerSlots &ls = slots[size_t(mb)].layers[size_t(l)];
      wait(compute, event(mb, l, kCombinedBack));
      launch(Component::MlpBackwardInput, l, PWRT_ACTION_BACKWARD_INPUT, mb,
             {ls.combineBackRecv.buffer()}, {ls.dispatchBackSend.buffer()});
      record(compute, event(mb, l, kMlpBackwardDone));
      wait(comm, event(mb, l, kMlpBackwardDone));
      allToAll(ls.dispatchBackSend, ls.dispatchBackRecv, valueRow, "dispatch",
               PWRT_ACTION_BACKWARD, mb, l);
      record(comm, event(mb, l, kDispatchedBack));
      launch(Component::MlpBackwardWeight, l, PWRT_ACTION_BACKWARD_WEIGHT, mb,
             {ls.combineBackRecv.buffer()}, {});
    }
    for (int mb : wave) {
      LayerSlots &ls = slots[size_t(mb)].layers[size_t(l)];
      wait(compute, event(mb, l, kDispatchedBack));
      pwrt_buffer inputGradient =
          l > 0 || !first ? ls.inputGradient.buffer() : pwrt_buffer{nullptr, 0};
      launch(Component::AttnBackwardInput, l, PWRT_ACTION_BACKWARD_INPUT, mb,
             {ls.dispatchBackRecv.buffer()}, {inputGradient});
      launch(Component::AttnBackwardWeight, l, PWRT_ACTION_BACKWARD_WEIGHT, mb,
             {}, {});
    }
  }
  if (!first)
    for (int mb : wave) {
      record(compute, event(mb, kInputGradientReady));
      wait(p2p, event(mb, kInputGradientReady));
      transfer(true, slots[size_t(mb)].layers[0].inputGradient, previous,
               2 * mb + 1, PWRT_PAYLOAD_GRADIENT, mb);
    }
}

pwrt_status Driver::step() {
  failed = false;
  if (pwrt_step_begin(ctx) != PWRT_OK)
    return PWRT_ERROR_INVALID_STATE;
  std::vector<std::vector<int>> waves;
  for (int mb = 0; mb < s.microbatches; mb += 2) {
    waves.push_back({mb});
    if (mb + 1 < s.microbatches)
      waves.back().push_back(mb + 1);
  }
  for (const std::vector<int> &wave : waves)
    forward(wave);
  for (const std::vector<int> &wave : waves)
    backward(wave);
  return pwrt_step_end(ctx);
}

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
  std::fprintf(stderr, "usage: mpirun -np 8 %s [--dispatch-capacity ROWS]\n",
               argv0);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  Shape shape;
  int dispatchCapacity = -1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dispatch-capacity") && i + 1 < argc)
      dispatchCapacity = std::atoi(argv[++i]);
    else
      return usage(argv[0]);
  }

  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.expected_world_size = shape.stages * shape.parallel;
  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK) {
    std::fprintf(stderr, "moe: error: %s\n", pwrt_last_error(nullptr));
    return 1;
  }
  int rank = pwrt_rank(ctx);

  // Every process builds the model and the reference itself (small); the
  // reference's routing gives the expert loads EPLB places replicas for.
  std::vector<Layer> model = initialModel(shape);
  Reference reference = sequentialStep(shape, model);
  Placement placement;
  std::string problem;
  if (!placeExperts(shape, reference.loads, placement, problem)) {
    std::fprintf(stderr, "moe: error: EPLB: %s\n", problem.c_str());
    pwrt_context_destroy(ctx);
    return 1;
  }

  ProcessState state(shape, model, placement, rank % shape.parallel);
  std::vector<std::string> names = registerKernels(ctx, state);
  std::vector<const char *> required;
  for (const std::string &name : names)
    required.push_back(name.c_str());
  Driver driver(ctx, shape, dispatchCapacity);
  if (pwrt_require_kernels(ctx, required.data(), required.size()) != PWRT_OK ||
      !driver.setUp()) {
    std::fprintf(stderr, "moe: error: %s\n", pwrt_last_error(ctx));
    pwrt_context_destroy(ctx);
    return 1;
  }

  auto start = std::chrono::steady_clock::now();
  pwrt_status status = driver.step();
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
    std::printf("moe: %d pipeline ranks x %d expert-parallel = %d processes; "
                "%d layers (%d per stage), %d experts (top-%d) in %d slots "
                "per layer, %d micro-batches of %d tokens\n",
                shape.stages, shape.parallel, shape.stages * shape.parallel,
                shape.layers(), shape.layersPerStage, shape.experts, shape.topk,
                shape.slots, shape.microbatches, shape.microbatchTokens());
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
