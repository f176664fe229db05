//===- Kernels.cpp - the MoE model's runtime kernels ----------------------===//

#include "Kernels.h"

#include <cstring>
#include <numeric>
#include <optional>

using namespace moe;

size_t moe::dispatchRowBytes(const Shape &s) {
  return 2 * sizeof(int32_t) + sizeof(float) * size_t(s.hidden);
}

size_t moe::valueRowBytes(const Shape &s) {
  return sizeof(float) * size_t(s.hidden);
}

size_t moe::allToAllBytes(const Shape &s, size_t rows, size_t rowBytes) {
  return sizeof(int64_t) * size_t(s.parallel) + rows * rowBytes;
}

const char *moe::kernelName(Component component) {
  static const char *const names[kNumComponentKernels] = {
      "moe_attn_fwd",   "moe_attn_bwd_in",  "moe_attn_bwd_w",
      "moe_mlp_fwd",    "moe_mlp_bwd_in",   "moe_mlp_bwd_w",
      "moe_unpack_fwd", "moe_unpack_bwd_in"};
  return names[int(component)];
}

ProcessState::ProcessState(const Shape &shape, const std::vector<Layer> &model,
                           const Placement &placement, int parallelIndex)
    : shape(shape), placement(placement), parallelIndex(parallelIndex) {
  int perProcess = shape.slotsPerProcess();
  for (int l = 0; l < shape.layers(); ++l) {
    attention.push_back(model[size_t(l)].attention);
    for (int local = 0; local < perProcess; ++local) {
      int slot = parallelIndex * perProcess + local;
      slotExperts.push_back(
          model[size_t(l)].experts[size_t(placement.expertOf(shape, l, slot))]);
    }
  }
}

const Expert &ProcessState::slotExpert(int layer, int slot) const {
  int perProcess = shape.slotsPerProcess();
  return slotExperts[size_t(layer * perProcess + slot -
                            parallelIndex * perProcess)];
}

size_t ProcessState::savedEntries() {
  std::lock_guard<std::mutex> lock(mutex);
  return tokenSide.size() + expertSide.size() + forwardHandOver.size() +
         backwardHandOver.size();
}

namespace {

//===----------------------------------------------------------------------===//
// Buffers and saved state
//===----------------------------------------------------------------------===//

/// A kernel's view of its call: the state, the layer, messages.
struct Call {
  const pwrt_kernel_args *args;
  ProcessState &state;
  const Shape &s;
  int layer;      // within the stage
  int modelLayer; // within the model

  explicit Call(const pwrt_kernel_args *args)
      : args(args), state(*static_cast<ProcessState *>(args->user_data)),
        s(state.shape), layer(args->layer),
        modelLayer(s.modelLayer(args->stage, args->layer)) {}

  /// A component launch names a stage, micro-batch and layer of the model;
  /// false (the error set) otherwise.
  bool isComponentLaunch() const {
    std::string problem;
    if (args->stage < 0 || args->stage >= s.stages)
      problem = "stage " + std::to_string(args->stage) +
                " is not one of the schedule's 0.." +
                std::to_string(s.stages - 1);
    else if (args->microbatch < 0 ||
             args->microbatch >= s.microbatchesPerDirection())
      problem = "micro-batch " + std::to_string(args->microbatch) +
                " is not one of a direction's 0.." +
                std::to_string(s.microbatchesPerDirection() - 1);
    else if (layer < 0 || layer >= s.layersPerStage)
      problem = "layer " + std::to_string(layer) +
                " is not one of a stage's 0.." +
                std::to_string(s.layersPerStage - 1) +
                " (a component's kernel needs args->layer)";
    if (problem.empty())
      return true;
    pwrt_kernel_set_error(args, problem.c_str());
    return false;
  }
  bool isFirstLayer() const { return layer == 0; }
  bool isLastLayer() const { return layer == s.layersPerStage - 1; }

  /// Buffer i of the inputs or outputs; {NULL, 0} when absent.
  const pwrt_buffer &input(size_t i) const {
    return i < args->num_inputs ? args->inputs[i] : kAbsent;
  }
  const pwrt_buffer &output(size_t i) const {
    return i < args->num_outputs ? args->outputs[i] : kAbsent;
  }
  static constexpr pwrt_buffer kAbsent = {nullptr, 0};

  ProcessState::Key key(int atLayer) const {
    return {args->stage, args->microbatch, atLayer};
  }
  ProcessState::Key key() const { return key(layer); }
  pwrt_status fail(const std::string &message) const {
    pwrt_kernel_set_error(args, message.c_str());
    return PWRT_ERROR_KERNEL_FAILED;
  }
  /// Checks that buffer `buffer` has `bytes` bytes (`exact`) or at least.
  bool sized(const pwrt_buffer &buffer, size_t bytes, const char *what,
             bool exact = true) const {
    if (buffer.data && (exact ? buffer.bytes == bytes : buffer.bytes >= bytes))
      return true;
    pwrt_kernel_set_error(
        args, (std::string(what) + " buffer " +
               (buffer.data ? "has " + std::to_string(buffer.bytes) + " bytes"
                            : std::string("is missing")) +
               ", " + (exact ? "expected " : "needs at least ") +
               std::to_string(bytes))
                  .c_str());
    return false;
  }
  /// Checks that the launch got no buffer for what the kernel state carries
  /// (the lowering gives none between neighbouring compute launches).
  bool absent(const pwrt_buffer &buffer, const char *what) const {
    if (!buffer.data)
      return true;
    pwrt_kernel_set_error(
        args, ("got a " + std::string(what) + " buffer, but layer " +
               std::to_string(layer) +
               " passes it through the kernel state (no buffer between "
               "neighbouring compute components)")
                  .c_str());
    return false;
  }
  /// A W launch gets no buffers.
  bool noBuffers() const {
    for (size_t i = 0; i < args->num_inputs + args->num_outputs; ++i)
      if ((i < args->num_inputs ? args->inputs[i]
                                : args->outputs[i - args->num_inputs])
              .data) {
        pwrt_kernel_set_error(args, "a backward-for-weights launch takes no "
                                    "buffers (its state holds what it needs)");
        return false;
      }
    return true;
  }
  template <typename Map>
  typename Map::mapped_type *saved(Map &map, const char *side) const {
    std::lock_guard<std::mutex> lock(state.mutex);
    auto found = map.find(key());
    if (found != map.end())
      return &found->second;
    pwrt_kernel_set_error(args, (std::string("no saved ") + side +
                                 " state of the forward of layer " +
                                 std::to_string(layer))
                                    .c_str());
    return nullptr;
  }
  /// Takes what a neighbouring launch handed over to this layer.
  std::optional<std::vector<float>>
  takeHandOver(std::map<ProcessState::Key, std::vector<float>> &handOvers,
               const char *what) const {
    std::lock_guard<std::mutex> lock(state.mutex);
    auto found = handOvers.find(key());
    if (found == handOvers.end()) {
      pwrt_kernel_set_error(
          args, (std::string("nothing handed over to layer ") +
                 std::to_string(layer) + ": " + what + " has not run")
                    .c_str());
      return std::nullopt;
    }
    std::vector<float> values = std::move(found->second);
    handOvers.erase(found);
    return values;
  }
  void handOver(std::map<ProcessState::Key, std::vector<float>> &handOvers,
                int toLayer, std::vector<float> values) const {
    std::lock_guard<std::mutex> lock(state.mutex);
    handOvers[key(toLayer)] = std::move(values);
  }
};

/// An all-to-all buffer: the header and the rows after it.
struct Packed {
  int64_t *counts;
  char *rows;
  Packed(const Shape &s, const pwrt_buffer &buffer)
      : counts(static_cast<int64_t *>(buffer.data)),
        rows(static_cast<char *>(buffer.data) +
             sizeof(int64_t) * size_t(s.parallel)) {}
  int64_t total(const Shape &s) const {
    return std::accumulate(counts, counts + s.parallel, int64_t(0));
  }
  /// Row offsets by group rank (rows before it).
  std::vector<int64_t> offsets(const Shape &s) const {
    std::vector<int64_t> first(size_t(s.parallel), 0);
    for (int p = 1; p < s.parallel; ++p)
      first[size_t(p)] = first[size_t(p - 1)] + counts[p - 1];
    return first;
  }
};

bool sameCounts(const Shape &s, const int64_t *a,
                const std::vector<int64_t> &b) {
  return std::equal(a, a + s.parallel, b.begin());
}

std::string describeCounts(const Shape &s, const int64_t *counts) {
  std::string text;
  for (int p = 0; p < s.parallel; ++p)
    text += (p ? ", " : "") + std::to_string(counts[p]);
  return text;
}

float *floats(const pwrt_buffer &buffer) {
  return static_cast<float *>(buffer.data);
}

/// The (slot, token) header of a dispatch row.
struct DispatchHeader {
  int32_t slot, token;
};
constexpr size_t kDispatchHeaderBytes = sizeof(DispatchHeader);

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

pwrt_status attnForwardKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden, X = s.experts, K = s.topk;
  size_t rowBytes = dispatchRowBytes(s);
  if (!c.sized(c.output(0), allToAllBytes(s, size_t(T * K), rowBytes),
               "dispatch send", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  ProcessState::TokenSide m;
  if (!c.isFirstLayer()) {
    // The previous layer's unpack_fwd handed its output over.
    if (!c.absent(c.input(0), "input activation"))
      return PWRT_ERROR_KERNEL_FAILED;
    std::optional<std::vector<float>> x =
        c.takeHandOver(c.state.forwardHandOver, "moe_unpack_fwd of the layer "
                                                "before");
    if (!x)
      return PWRT_ERROR_KERNEL_FAILED;
    m.x = std::move(*x);
  } else if (c.input(0).data) {
    if (!c.sized(c.input(0), s.activationBytes(), "input"))
      return PWRT_ERROR_KERNEL_FAILED;
    m.x.assign(floats(c.input(0)), floats(c.input(0)) + T * H);
  } else if (s.isFirstStage(args->stage)) {
    // The first stage of a direction reads its tokens of the micro-batch.
    std::vector<float> all =
        input(s, s.stepMicrobatch(args->stage, args->microbatch));
    m.x.assign(all.begin() + c.state.parallelIndex * T * H,
               all.begin() + (c.state.parallelIndex + 1) * T * H);
  } else {
    return c.fail("no input activation buffer (stage " +
                  std::to_string(args->stage) +
                  " is not the first of its direction)");
  }
  const Attention &p = c.state.attention[size_t(c.modelLayer)];
  m.u.resize(size_t(T * H));
  m.a.resize(size_t(T * H));
  m.probs.resize(size_t(T * X));
  m.gates.resize(size_t(T * K));
  m.top.resize(size_t(T * K));
  m.slot.resize(size_t(T * K));
  m.dest.resize(size_t(T * K));
  m.position.resize(size_t(T * K));
  m.sendCounts.assign(size_t(s.parallel), 0);
  for (int t = 0; t < T; ++t) {
    attentionForward(s, p, &m.x[t * H], &m.u[t * H], &m.a[t * H]);
    route(s, p, &m.a[t * H], &m.probs[t * X], &m.top[t * K], &m.gates[t * K]);
    // The token's index in the whole micro-batch picks the replica.
    int token = c.state.parallelIndex * T + t;
    for (int k = 0; k < K; ++k) {
      int slot =
          c.state.placement.slotFor(s, c.modelLayer, m.top[t * K + k], token);
      int dest = slot / s.slotsPerProcess();
      m.slot[t * K + k] = slot;
      m.dest[t * K + k] = dest;
      m.position[t * K + k] = int32_t(m.sendCounts[size_t(dest)]++);
    }
  }
  // Dispatch pack: rows grouped by destination, in (token, k) order.
  Packed out(s, c.output(0));
  std::copy(m.sendCounts.begin(), m.sendCounts.end(), out.counts);
  std::vector<int64_t> first = out.offsets(s);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < K; ++k) {
      int i = t * K + k;
      char *row = out.rows +
                  size_t(first[size_t(m.dest[i])] + m.position[i]) * rowBytes;
      DispatchHeader header = {m.slot[i], int32_t(t)};
      std::memcpy(row, &header, kDispatchHeaderBytes);
      std::memcpy(row + kDispatchHeaderBytes, &m.a[t * H], sizeof(float) * H);
      c.state.rowsDispatched += 1;
      c.state.rowsDispatchedAway += m.dest[i] != c.state.parallelIndex;
    }
  std::lock_guard<std::mutex> lock(c.state.mutex);
  c.state.tokenSide[c.key()] = std::move(m);
  return PWRT_OK;
}

pwrt_status mlpForwardKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int H = s.hidden, F = s.ffn;
  if (!c.sized(c.input(0), allToAllBytes(s, 0, 1), "dispatch receive",
               /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  Packed in(s, c.input(0));
  int64_t rows = in.total(s);
  size_t inBytes = dispatchRowBytes(s), outBytes = valueRowBytes(s);
  if (!c.sized(c.input(0), allToAllBytes(s, size_t(rows), inBytes),
               "dispatch receive", /*exact=*/false) ||
      !c.sized(c.output(0), allToAllBytes(s, size_t(rows), outBytes),
               "combine send", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  ProcessState::ExpertSide m;
  m.counts.assign(in.counts, in.counts + s.parallel);
  m.slot.resize(static_cast<size_t>(rows));
  m.token.resize(static_cast<size_t>(rows));
  m.a.resize(size_t(rows * H));
  m.z.resize(size_t(rows * F));
  Packed out(s, c.output(0));
  std::copy(in.counts, in.counts + s.parallel, out.counts);
  int firstSlot = c.state.parallelIndex * s.slotsPerProcess();
  for (int64_t r = 0; r < rows; ++r) {
    const char *row = in.rows + size_t(r) * inBytes;
    DispatchHeader header;
    std::memcpy(&header, row, kDispatchHeaderBytes);
    if (header.slot < firstSlot ||
        header.slot >= firstSlot + s.slotsPerProcess())
      return c.fail("row " + std::to_string(r) + " is for slot " +
                    std::to_string(header.slot) +
                    ", which this process (slots " + std::to_string(firstSlot) +
                    ".." + std::to_string(firstSlot + s.slotsPerProcess() - 1) +
                    ") does not hold");
    m.slot[size_t(r)] = header.slot;
    m.token[size_t(r)] = header.token;
    std::memcpy(&m.a[size_t(r * H)], row + kDispatchHeaderBytes,
                sizeof(float) * H);
    expertForward(s, c.state.slotExpert(c.modelLayer, header.slot),
                  &m.a[size_t(r * H)], &m.z[size_t(r * F)],
                  reinterpret_cast<float *>(out.rows + size_t(r) * outBytes));
  }
  std::lock_guard<std::mutex> lock(c.state.mutex);
  c.state.expertSide[c.key()] = std::move(m);
  return PWRT_OK;
}

pwrt_status unpackForwardKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden, K = s.topk;
  ProcessState::TokenSide *m = c.saved(c.state.tokenSide, "attention");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  if (!c.sized(c.input(0), allToAllBytes(s, 0, 1), "combine receive",
               /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  Packed in(s, c.input(0));
  if (!sameCounts(s, in.counts, m->sendCounts))
    return c.fail("the combine returned " + describeCounts(s, in.counts) +
                  " rows by group rank, the dispatch sent " +
                  describeCounts(s, m->sendCounts.data()));
  if (!c.sized(c.input(0),
               allToAllBytes(s, size_t(in.total(s)), valueRowBytes(s)),
               "receive", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  // The last layer writes the stage's output; the others hand it over.
  std::vector<float> handed;
  float *y;
  if (c.isLastLayer()) {
    if (!c.sized(c.output(0), s.activationBytes(), "output"))
      return PWRT_ERROR_KERNEL_FAILED;
    y = floats(c.output(0));
  } else {
    if (!c.absent(c.output(0), "output activation"))
      return PWRT_ERROR_KERNEL_FAILED;
    handed.resize(size_t(T * H));
    y = handed.data();
  }
  std::vector<int64_t> first = in.offsets(s);
  m->outputs.resize(size_t(T * K * H));
  std::vector<const float *> outputs(static_cast<size_t>(K));
  for (int t = 0; t < T; ++t) {
    for (int k = 0; k < K; ++k) {
      int i = t * K + k;
      const char *row =
          in.rows +
          size_t(first[size_t(m->dest[i])] + m->position[i]) * valueRowBytes(s);
      std::memcpy(&m->outputs[size_t(i * H)], row, sizeof(float) * H);
      outputs[size_t(k)] = &m->outputs[size_t(i * H)];
    }
    combineForward(s, &m->a[t * H], &m->gates[t * K], outputs.data(),
                   y + t * H);
  }
  if (!c.isLastLayer())
    c.handOver(c.state.forwardHandOver, c.layer + 1, std::move(handed));
  return PWRT_OK;
}

pwrt_status lossKernel(const pwrt_kernel_args *args) {
  Call c(args);
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden;
  if (!c.sized(c.input(0), s.activationBytes(), "output") ||
      !c.sized(c.output(0), s.activationBytes(), "output gradient"))
    return PWRT_ERROR_KERNEL_FAILED;
  std::vector<float> t =
      target(s, s.stepMicrobatch(args->stage, args->microbatch));
  double count = double(s.microbatches) * s.microbatchTokens() * H;
  const float *y = floats(c.input(0));
  float *dy = floats(c.output(0));
  double loss = 0;
  for (int i = 0; i < T; ++i)
    loss +=
        lossRow(s, y + i * H, &t[size_t((c.state.parallelIndex * T + i) * H)],
                dy + i * H, count);
  c.state.loss += loss;
  return PWRT_OK;
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

pwrt_status unpackBackwardInputKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden, X = s.experts, K = s.topk;
  ProcessState::TokenSide *m = c.saved(c.state.tokenSide, "attention");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  size_t rowBytes = valueRowBytes(s);
  if (!c.sized(c.output(0), allToAllBytes(s, size_t(T * K), rowBytes),
               "combine-backward send", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  // The last layer reads the stage's output gradient; the others what the
  // next layer's attn_bwd_in handed over.
  std::vector<float> handed;
  const float *dy;
  if (c.isLastLayer()) {
    if (!c.sized(c.input(0), s.activationBytes(), "output gradient"))
      return PWRT_ERROR_KERNEL_FAILED;
    dy = floats(c.input(0));
  } else {
    if (!c.absent(c.input(0), "output gradient"))
      return PWRT_ERROR_KERNEL_FAILED;
    std::optional<std::vector<float>> values = c.takeHandOver(
        c.state.backwardHandOver, "moe_attn_bwd_in of the layer after");
    if (!values)
      return PWRT_ERROR_KERNEL_FAILED;
    handed = std::move(*values);
    dy = handed.data();
  }
  m->daPartial.resize(size_t(T * H));
  m->dlogits.resize(size_t(T * X));
  Packed out(s, c.output(0));
  std::copy(m->sendCounts.begin(), m->sendCounts.end(), out.counts);
  std::vector<int64_t> first = out.offsets(s);
  std::vector<const float *> outputs(static_cast<size_t>(K));
  std::vector<float> dgates(static_cast<size_t>(K));
  for (int t = 0; t < T; ++t) {
    for (int k = 0; k < K; ++k)
      outputs[size_t(k)] = &m->outputs[size_t((t * K + k) * H)];
    combineBackwardGates(s, dy + t * H, outputs.data(), dgates.data());
    // The residual's gradient, then the router's.
    std::copy(dy + t * H, dy + (t + 1) * H, &m->daPartial[t * H]);
    routerBackward(s, c.state.attention[size_t(c.modelLayer)], &m->probs[t * X],
                   &m->top[t * K], dgates.data(), &m->dlogits[t * X],
                   &m->daPartial[t * H]);
    // Each expert's output gradient, where its row went.
    for (int k = 0; k < K; ++k) {
      int i = t * K + k;
      float *row = reinterpret_cast<float *>(
          out.rows +
          size_t(first[size_t(m->dest[i])] + m->position[i]) * rowBytes);
      for (int j = 0; j < H; ++j)
        row[j] = m->gates[i] * dy[t * H + j];
    }
  }
  return PWRT_OK;
}

pwrt_status mlpBackwardInputKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int H = s.hidden, F = s.ffn;
  ProcessState::ExpertSide *m = c.saved(c.state.expertSide, "expert");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  if (!c.sized(c.input(0), allToAllBytes(s, 0, 1), "combine-backward receive",
               /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  Packed in(s, c.input(0));
  if (!sameCounts(s, in.counts, m->counts))
    return c.fail("the combine backward delivered " +
                  describeCounts(s, in.counts) +
                  " rows by group rank, the dispatch " +
                  describeCounts(s, m->counts.data()));
  size_t inBytes = valueRowBytes(s), outBytes = dispatchRowBytes(s);
  if (!c.sized(c.input(0), allToAllBytes(s, size_t(in.total(s)), inBytes),
               "receive", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  size_t rows = m->slot.size();
  if (!c.sized(c.output(0), allToAllBytes(s, rows, outBytes),
               "dispatch-backward send", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  // The W launch may run after a later all-to-all reused the receive
  // buffer: it gets its output gradients from here.
  const float *dout = reinterpret_cast<const float *>(in.rows);
  m->dout.assign(dout, dout + rows * size_t(H));
  Packed out(s, c.output(0));
  std::copy(m->counts.begin(), m->counts.end(), out.counts);
  for (size_t r = 0; r < rows; ++r) {
    char *row = out.rows + r * outBytes;
    DispatchHeader header = {m->slot[r], m->token[r]};
    std::memcpy(row, &header, kDispatchHeaderBytes);
    expertBackwardInput(s, c.state.slotExpert(c.modelLayer, m->slot[r]),
                        &m->z[r * size_t(F)], &m->dout[r * size_t(H)],
                        reinterpret_cast<float *>(row + kDispatchHeaderBytes));
  }
  return PWRT_OK;
}

pwrt_status mlpBackwardWeightKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch() || !c.noBuffers())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int H = s.hidden, F = s.ffn;
  ProcessState::ExpertSide *m = c.saved(c.state.expertSide, "expert");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  if (m->dout.size() != m->slot.size() * size_t(H))
    return c.fail("the backward for input of this layer has not run");
  {
    std::lock_guard<std::mutex> lock(c.state.gradMutex);
    for (size_t r = 0; r < m->slot.size(); ++r) {
      auto [grad, inserted] = c.state.expertGrads.try_emplace(
          std::pair{c.modelLayer, int(m->slot[r])}, s);
      if (inserted)
        grad->second.zero();
      expertBackwardWeight(s, c.state.slotExpert(c.modelLayer, m->slot[r]),
                           &m->a[r * size_t(H)], &m->z[r * size_t(F)],
                           &m->dout[r * size_t(H)], grad->second);
    }
  }
  std::lock_guard<std::mutex> lock(c.state.mutex);
  c.state.expertSide.erase(c.key());
  return PWRT_OK;
}

pwrt_status attnBackwardInputKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden, K = s.topk;
  ProcessState::TokenSide *m = c.saved(c.state.tokenSide, "attention");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  if (!c.sized(c.input(0), allToAllBytes(s, 0, 1), "dispatch-backward receive",
               /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  Packed in(s, c.input(0));
  if (!sameCounts(s, in.counts, m->sendCounts))
    return c.fail("the dispatch backward returned " +
                  describeCounts(s, in.counts) +
                  " rows by group rank, the dispatch sent " +
                  describeCounts(s, m->sendCounts.data()));
  size_t rowBytes = dispatchRowBytes(s);
  if (!c.sized(c.input(0), allToAllBytes(s, size_t(in.total(s)), rowBytes),
               "receive", /*exact=*/false))
    return PWRT_ERROR_KERNEL_FAILED;
  // Layer 0 writes the stage's input gradient (none on a first stage); the
  // others hand it over to the layer before.
  std::vector<float> handed, discarded;
  float *dx;
  if (!c.isFirstLayer()) {
    if (!c.absent(c.output(0), "input gradient"))
      return PWRT_ERROR_KERNEL_FAILED;
    handed.resize(size_t(T * H));
    dx = handed.data();
  } else if (c.output(0).data) {
    if (!c.sized(c.output(0), s.activationBytes(), "input gradient"))
      return PWRT_ERROR_KERNEL_FAILED;
    dx = floats(c.output(0));
  } else if (s.isFirstStage(args->stage)) {
    discarded.resize(size_t(T * H));
    dx = discarded.data();
  } else {
    return c.fail("no input gradient buffer (stage " +
                  std::to_string(args->stage) +
                  " is not the first of its direction)");
  }
  std::vector<int64_t> first = in.offsets(s);
  m->du.resize(size_t(T * H));
  std::vector<float> da(static_cast<size_t>(H));
  for (int t = 0; t < T; ++t) {
    std::copy(&m->daPartial[t * H], &m->daPartial[(t + 1) * H], da.begin());
    for (int k = 0; k < K; ++k) {
      int i = t * K + k;
      const char *row =
          in.rows +
          size_t(first[size_t(m->dest[i])] + m->position[i]) * rowBytes;
      DispatchHeader header;
      std::memcpy(&header, row, kDispatchHeaderBytes);
      if (header.slot != m->slot[i] || header.token != t)
        return c.fail("the dispatch backward's row for token " +
                      std::to_string(t) + ", choice " + std::to_string(k) +
                      " is for slot " + std::to_string(header.slot) +
                      ", token " + std::to_string(header.token) +
                      "; the dispatch sent slot " + std::to_string(m->slot[i]));
      const float *values =
          reinterpret_cast<const float *>(row + kDispatchHeaderBytes);
      for (int j = 0; j < H; ++j)
        da[size_t(j)] += values[j];
    }
    attentionBackwardInput(s, c.state.attention[size_t(c.modelLayer)],
                           &m->u[t * H], da.data(), &m->du[t * H], dx + t * H);
  }
  if (!c.isFirstLayer())
    c.handOver(c.state.backwardHandOver, c.layer - 1, std::move(handed));
  return PWRT_OK;
}

pwrt_status attnBackwardWeightKernel(const pwrt_kernel_args *args) {
  Call c(args);
  if (!c.isComponentLaunch() || !c.noBuffers())
    return PWRT_ERROR_KERNEL_FAILED;
  const Shape &s = c.s;
  int T = s.tokens, H = s.hidden, X = s.experts;
  ProcessState::TokenSide *m = c.saved(c.state.tokenSide, "attention");
  if (!m)
    return PWRT_ERROR_KERNEL_FAILED;
  if (m->du.empty())
    return c.fail("the backward for input of this layer has not run");
  {
    std::lock_guard<std::mutex> lock(c.state.gradMutex);
    auto [grad, inserted] = c.state.attentionGrads.try_emplace(c.modelLayer, s);
    if (inserted)
      grad->second.zero();
    for (int t = 0; t < T; ++t)
      attentionBackwardWeight(s, &m->x[t * H], &m->a[t * H], &m->du[t * H],
                              &m->dlogits[t * X], grad->second);
  }
  std::lock_guard<std::mutex> lock(c.state.mutex);
  c.state.tokenSide.erase(c.key());
  return PWRT_OK;
}

} // namespace

std::vector<std::string> moe::registerKernels(pwrt_context *ctx,
                                              ProcessState &state) {
  static const pwrt_kernel_fn functions[kNumComponentKernels] = {
      attnForwardKernel,   attnBackwardInputKernel,  attnBackwardWeightKernel,
      mlpForwardKernel,    mlpBackwardInputKernel,   mlpBackwardWeightKernel,
      unpackForwardKernel, unpackBackwardInputKernel};
  std::vector<std::string> names;
  for (int component = 0; component < kNumComponentKernels; ++component) {
    names.push_back(kernelName(Component(component)));
    pwrt_register_kernel(ctx, names.back().c_str(), functions[component],
                         &state, nullptr);
  }
  names.push_back(kLossKernel);
  pwrt_register_kernel(ctx, kLossKernel, lossKernel, &state, nullptr);
  return names;
}
