//===- Model.h - a small Mixture-of-Experts model, on the CPU ---*- C++ -*-===//
//
// Each layer: an attention stand-in (a = x + tanh(x Wa + ba), per token), a
// top-k router on a (softmax over logical experts, k = 2, gates = the
// selected probabilities), experts as MLPs (linear -> GELU -> linear), and
// the combine y = a + sum_k gate_k * expert_k(a). The loss is the mean
// squared error of the last layer's output against a target. fp32,
// deterministic from layer, expert and micro-batch numbers, so that every
// process can build the parameters and the sequential reference itself.
//
// Every function here works on one token (one row), so the distributed run
// and the reference compute each token's forward bit for bit alike and pick
// the same experts; only the sums of weight gradients over tokens differ in
// order.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MOE_MODEL_H
#define PIPEWEAVE_EXAMPLES_MOE_MODEL_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct Shape {
  int hidden = 16;  // H
  int ffn = 32;     // F: an expert's inner width
  int experts = 4;  // X: logical experts per layer
  int topk = 2;     // k
  int slots = 6;    // S: physical expert slots per layer (replicas)
  int tokens = 8;   // T: tokens of a micro-batch per expert-parallel index
  int parallel = 2; // E: expert-parallel degree
  // The pipeline, as the schedule has it. Stages of all directions: the
  // model's chunks (stagesPerDirection() of them, `layersPerStage` layers
  // each) run once per direction, DualPipe's second direction on the
  // mirrored ranks with its own copy of the parameters, so stage s is chunk
  // s mod stagesPerDirection() of direction s / stagesPerDirection().
  int stages = 8;     // DualPipe on 4 ranks: 2 * 4
  int directions = 2; // 2 for DualPipe, else 1
  int layersPerStage = 2;
  int microbatches = 8; // in all directions; numbered per direction

  int stagesPerDirection() const { return stages / directions; }
  int microbatchesPerDirection() const { return microbatches / directions; }
  /// Layers of the model (each direction runs all of them).
  int layers() const { return stagesPerDirection() * layersPerStage; }
  /// The model layer that layer `layer` of (global) stage `stage` runs.
  int modelLayer(int stage, int layer) const {
    return stage % stagesPerDirection() * layersPerStage + layer;
  }
  bool isFirstStage(int stage) const {
    return stage % stagesPerDirection() == 0;
  }
  /// The micro-batch of the step (0 .. microbatches-1, what input() and
  /// target() take) that micro-batch `microbatch` of `stage`'s direction is.
  int stepMicrobatch(int stage, int microbatch) const {
    return stage / stagesPerDirection() * microbatchesPerDirection() +
           microbatch;
  }
  int slotsPerProcess() const { return slots / parallel; }
  /// Tokens of one micro-batch over all expert-parallel indices.
  int microbatchTokens() const { return tokens * parallel; }
  size_t activationBytes() const { return sizeof(float) * tokens * hidden; }
};

/// The attention stand-in and the router of one layer (replicated over the
/// expert-parallel group, i.e. data parallel), or their gradients.
struct Attention {
  std::vector<float> wa, ba, wr; // [H x H], [H], [H x X]
  explicit Attention(const Shape &shape);
  void zero();
};

/// One expert, or its gradient.
struct Expert {
  std::vector<float> w1, b1, w2, b2; // [H x F], [F], [F x H], [H]
  explicit Expert(const Shape &shape);
  void zero();
  void add(const Expert &other);
};

struct Layer {
  Attention attention;
  std::vector<Expert> experts; // by logical expert
  explicit Layer(const Shape &shape);
  void zero();
};

/// The initial parameters of every layer of the model.
std::vector<Layer> initialModel(const Shape &shape);
/// A micro-batch's input and target: [microbatchTokens x H]; the tokens of
/// expert-parallel index e are rows e*T .. e*T + T - 1.
std::vector<float> input(const Shape &shape, int microbatch);
std::vector<float> target(const Shape &shape, int microbatch);

//===----------------------------------------------------------------------===//
// One token's arithmetic (pointers to rows)
//===----------------------------------------------------------------------===//

/// u = x Wa + ba, a = x + tanh(u).
void attentionForward(const Shape &s, const Attention &p, const float *x,
                      float *u, float *a);
/// probs = softmax(a Wr); top = the k most likely experts (descending, the
/// lower index first among equals); gates = their probabilities.
void route(const Shape &s, const Attention &p, const float *a, float *probs,
           int32_t *top, float *gates);
/// z = a W1 + b1, o = gelu(z) W2 + b2.
void expertForward(const Shape &s, const Expert &p, const float *a, float *z,
                   float *o);
/// da = d(o)/d(a)^T dout.
void expertBackwardInput(const Shape &s, const Expert &p, const float *z,
                         const float *dout, float *da);
/// Accumulates the expert's weight gradients for one row.
void expertBackwardWeight(const Shape &s, const Expert &p, const float *a,
                          const float *z, const float *dout, Expert &grad);
/// From the gates' gradients: dlogits (softmax backward, unselected
/// experts' probabilities having gradient 0), and da += dlogits Wr^T.
void routerBackward(const Shape &s, const Attention &p, const float *probs,
                    const int32_t *top, const float *dgates, float *dlogits,
                    float *da);
/// du = da * (1 - tanh(u)^2), dx = da + du Wa^T.
void attentionBackwardInput(const Shape &s, const Attention &p, const float *u,
                            const float *da, float *du, float *dx);
/// Accumulates Wa, ba (from x, du) and the router's Wr (from a, dlogits).
void attentionBackwardWeight(const Shape &s, const float *x, const float *a,
                             const float *du, const float *dlogits,
                             Attention &grad);
/// y = a + sum_k gates[k] * outputs[k] (k in order), outputs[k] being the
/// row of the token's k-th expert.
void combineForward(const Shape &s, const float *a, const float *gates,
                    const float *const *outputs, float *y);
/// dgates[k] = dy . outputs[k].
void combineBackwardGates(const Shape &s, const float *dy,
                          const float *const *outputs, float *dgates);
/// Squared error of one row against its target, divided by `count` (all
/// values of the step); writes dy.
double lossRow(const Shape &s, const float *y, const float *t, float *dy,
               double count);

//===----------------------------------------------------------------------===//
// Placement and reference
//===----------------------------------------------------------------------===//

/// Where the replicas of each layer's experts live (EPLB's output): slot s
/// of layer l holds logical expert phy2log[l*S + s]; expert e of layer l
/// has logcnt[l*X + e] replicas in slots log2phy[(l*X + e)*maxReplicas + r].
/// The process of expert-parallel index i holds slots i*S/E .. (i+1)*S/E-1.
struct Placement {
  int maxReplicas = 1;
  std::vector<int64_t> phy2log, logcnt, log2phy;

  int expertOf(const Shape &s, int layer, int slot) const;
  /// The replica a token uses: its index in the micro-batch modulo the
  /// expert's replica count (deterministic, spreads tokens evenly).
  int slotFor(const Shape &s, int layer, int expert, int token) const;
};

/// EPLB (passes/Eplb, DeepSeek's reference policy) for the expert loads
/// `loads` ([layers x X] token counts); on failure returns false and sets
/// `error`.
bool placeExperts(const Shape &shape, const std::vector<double> &loads,
                  Placement &placement, std::string &error);

/// The unpipelined step: every micro-batch through every layer, all tokens
/// at once, no replicas. Also counts each layer's tokens per expert.
struct Reference {
  std::vector<Layer> grads; // by layer, logical experts
  double loss = 0;
  std::vector<double> loads; // [layers x X] routed tokens
};
Reference sequentialStep(const Shape &shape, const std::vector<Layer> &model);

/// max |a - b| / max |b| over one tensor.
double relativeDifference(const std::vector<float> &a,
                          const std::vector<float> &b);
/// The largest relativeDifference over all tensors of two layers.
double relativeDifference(const Layer &a, const Layer &b);

} // namespace moe

#endif // PIPEWEAVE_EXAMPLES_MOE_MODEL_H
