//===- Kernels.h - the MoE model's runtime kernels --------------*- C++ -*-===//
//
// A stage is `layersPerStage` layers, each made of five components, as the
// spec (moe_dualpipe.mlir) lists them:
//
//   attn      compute   attention stand-in, router (top-k over logical
//                       experts, a replica per token from the EPLB
//                       placement) and dispatch pack: one row per
//                       (token, k) for the process holding that replica
//   dispatch  all-to-all
//   mlp       compute   unpacks the received rows, runs each through its
//                       slot's expert, packs the outputs in the same order
//   combine   all-to-all
//   unpack    compute   y = a + sum_k gate_k * expert_k(a)
//
// Each compute component has a kernel per part it runs, registered once
// (not per layer or stage): it reads the layer from args->layer and the
// global stage from args->stage (model layer = Shape::modelLayer):
//
//   moe_attn_fwd, moe_attn_bwd_in, moe_attn_bwd_w
//   moe_mlp_fwd, moe_mlp_bwd_in, moe_mlp_bwd_w
//   moe_unpack_fwd, moe_unpack_bwd_in (no weights: no backward_weight)
//   moe_loss (after the last stage's forward; layer -1)
//
// Chains. The forward of a stage runs, for each layer in order, attn,
// dispatch, mlp, combine, unpack; its backward, for each layer from the
// last, unpack_I, combine (backward), mlp_I, dispatch (backward), attn_I,
// with mlp_W and attn_W off the chain (any time after their I). The
// backward all-to-alls run in the reverse direction of their forward's,
// with its counts.
//
// Buffers (pwrt_kernel_args), the compiler's lowering rule: a compute
// launch gets as input the receive buffer of the all-to-all right before it
// in its chain, or the chain's input when it is first; as output the send
// buffer of the all-to-all right after it, or the chain's output when it is
// last; nothing toward a neighbouring compute launch, nothing for W:
//   attn_fwd      layer 0: inputs {stage input x} (none on a first stage:
//                 the micro-batch's own tokens); other layers: none (the
//                 previous layer's unpack_fwd hands y over in the state)
//                 outputs {dispatch send}
//   mlp_fwd       inputs {dispatch recv}  outputs {combine send}
//   unpack_fwd    inputs {combine recv}
//                 outputs: last layer {stage output y}; others none
//   loss          inputs {y}              outputs {dy}
//   unpack_bwd_in inputs: last layer {stage output gradient dy}; others
//                 none (the next layer's attn_bwd_in hands dx over)
//                 outputs {combine-backward send}
//   mlp_bwd_in    inputs {combine-backward recv}
//                 outputs {dispatch-backward send}
//   mlp_bwd_w     none (keeps what it needs from mlp_bwd_in in the state:
//                 a later layer's all-to-all may reuse the receive buffer
//                 before a delayed W runs)
//   attn_bwd_in   inputs {dispatch-backward recv}
//                 outputs: layer 0 {stage input gradient dx} (none on a
//                 first stage); others none
//   attn_bwd_w    none
// Absent buffers may be left out or be {NULL, 0}. A kernel that gets a
// buffer the rule does not give it, or misses one, fails naming it.
// All-to-all buffers have pwrt_all_to_all's format (an int64 row count per
// expert-parallel index, then rows in index order). Each all-to-all has one
// row size in both directions, as its spec component has one `row_bytes`:
// dispatch rows are dispatchRow (int32 slot, int32 token, H floats: the
// token's a forward, its gradient backward), combine rows H floats. The
// combine returns rows in the order the dispatch delivered them.
//
// Saved state. What a forward keeps for its backward that no buffer carries
// (x, u, a, router probabilities and choices, where each (token, k) row went;
// on the expert side the received rows and their hidden pre-activations),
// and what passes between neighbouring compute launches, lives in the
// kernels' user data keyed by (stage, micro-batch, layer): created by the
// forward kernels, consumed by the backward ones, and erased by the last
// user (attn_bwd_w, mlp_bwd_w, the receiving end of a hand-over), so after
// a step nothing is left (ProcessState::savedEntries). A compiled schedule
// may thus run the components of different micro-batches in any order
// their dependencies allow, with the pool holding only the buffers above.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MOE_KERNELS_H
#define PIPEWEAVE_EXAMPLES_MOE_KERNELS_H

#include "Model.h"
#include "pwrt/pwrt.h"

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace moe {

/// Bytes of a dispatch row (both directions): int32 slot, int32 token, H
/// floats.
size_t dispatchRowBytes(const Shape &shape);
/// Bytes of a combine row (both directions): H floats.
size_t valueRowBytes(const Shape &shape);
/// Bytes of an all-to-all buffer with room for `rows` rows.
size_t allToAllBytes(const Shape &shape, size_t rows, size_t rowBytes);

/// The kernels of a layer's compute components.
enum class Component {
  AttnForward,
  AttnBackwardInput,
  AttnBackwardWeight,
  MlpForward,
  MlpBackwardInput,
  MlpBackwardWeight,
  UnpackForward,
  UnpackBackwardInput,
};
constexpr int kNumComponentKernels = 8;

/// "moe_attn_fwd", ...
const char *kernelName(Component component);
constexpr const char *kLossKernel = "moe_loss";

/// What the kernels of one process share (through their user data).
class ProcessState {
public:
  ProcessState(const Shape &shape, const std::vector<Layer> &model,
               const Placement &placement, int parallelIndex);

  const Shape shape;
  const Placement placement;
  const int parallelIndex; // this process's index in its group

  // Parameters: attention of every layer (replicated), and the experts of
  // this process's slots (replicas: copies of their logical expert).
  std::vector<Attention> attention; // by model layer
  std::vector<Expert> slotExperts;  // [model layer x slots per process]
  const Expert &slotExpert(int layer, int slot) const;

  // Gradients, accumulated by the W kernels.
  std::map<int, Attention> attentionGrads;           // by model layer
  std::map<std::pair<int, int>, Expert> expertGrads; // (model layer, slot)
  double loss = 0;
  // Rows this process dispatched, and how many went to another process.
  int64_t rowsDispatched = 0, rowsDispatchedAway = 0;

  /// Saved states still held (0 after a complete step).
  size_t savedEntries();

  // Saved state, see the header comment.
  using Key = std::tuple<int, int, int>; // stage, micro-batch, layer
  struct TokenSide {
    std::vector<float> x, u, a, probs, gates, outputs, daPartial, dlogits, du;
    std::vector<int32_t> top, slot, dest, position; // [T x k]
    std::vector<int64_t> sendCounts;                // rows per group rank
  };
  struct ExpertSide {
    std::vector<int64_t> counts;      // rows from each group rank
    std::vector<int32_t> slot, token; // per row: global slot, sender's token
    std::vector<float> a, z;
    std::vector<float> dout; // per row: the output gradient (mlp_bwd_in)
  };
  std::mutex mutex; // guards the maps (entries: one kernel at a time)
  std::map<Key, TokenSide> tokenSide;
  std::map<Key, ExpertSide> expertSide;
  // Hand-overs between neighbouring compute launches, by the receiving
  // layer: a layer's output y for the next layer's attn_fwd, a layer's
  // input gradient dx for the previous layer's unpack_bwd_in.
  std::map<Key, std::vector<float>> forwardHandOver, backwardHandOver;
  std::mutex gradMutex;
};

/// Registers every component kernel and the loss on `ctx` (user data:
/// `state`), and returns their names (for pwrt_require_kernels).
std::vector<std::string> registerKernels(pwrt_context *ctx,
                                         ProcessState &state);

} // namespace moe

#endif // PIPEWEAVE_EXAMPLES_MOE_KERNELS_H
