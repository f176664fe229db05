//===- Kernels.h - the MoE model's runtime kernels --------------*- C++ -*-===//
//
// The model's layers split into components, each a pwrt kernel (registered
// by name, called with pwrt_kernel_args) or an all-to-all between the
// expert-parallel group's processes (pwrt_all_to_all). Per layer, in
// forward order:
//
//   moe_attn_fwd_l<L>     attention stand-in, router (top-k over logical
//                         experts, a replica per token from the EPLB
//                         placement) and dispatch prep: packs one row per
//                         (token, k) for the process holding that replica
//     all-to-all "dispatch"
//   moe_mlp_fwd_l<L>      unpacks the received rows, runs each through its
//                         slot's expert, packs the outputs in the same order
//     all-to-all "combine"
//   moe_combine_fwd_l<L>  unpacks: y = a + sum_k gate_k * expert_k(a)
//
// and backward (the all-to-alls in the reverse direction of forward's):
//
//   moe_combine_bwd_l<L>  gates' and router's gradients; packs gate_k * dy
//                         for each (token, k) in dispatch order
//     all-to-all "combine" (backward)
//   moe_mlp_bwd_in_l<L>   experts' input gradients, in the received order
//   moe_mlp_bwd_w_l<L>    experts' weight gradients (off the chain)
//     all-to-all "dispatch" (backward)
//   moe_attn_bwd_in_l<L>  unpacks, adds the residual and router gradients,
//                         attention's input gradient
//   moe_attn_bwd_w_l<L>   attention's and router's weight gradients
//
// plus moe_loss on the last stage. <L> is the layer within the stage: a
// kernel's arguments name its stage and micro-batch but not the layer, so
// each layer's kernels are registered under their own names (same function,
// the layer in the user data).
//
// Buffers (pwrt_kernel_args), absent ones {NULL, 0}:
//   attn_fwd      inputs {layer input x}   (NULL on stage 0, layer 0: the
//                                           micro-batch's own tokens)
//                 outputs {dispatch send}
//   mlp_fwd       inputs {dispatch recv}  outputs {combine send}
//   combine_fwd   inputs {combine recv}   outputs {layer output y}
//   loss          inputs {y}              outputs {dy}
//   combine_bwd   inputs {dy}             outputs {combine-backward send}
//   mlp_bwd_in    inputs {combine-backward recv}
//                 outputs {dispatch-backward send}
//   mlp_bwd_w     inputs {combine-backward recv}
//   attn_bwd_in   inputs {dispatch-backward recv}
//                 outputs {layer input gradient dx} (NULL: not needed)
//   attn_bwd_w    none
// All-to-all buffers have pwrt_all_to_all's format (an int64 row count per
// expert-parallel index, then rows in index order); rows are dispatchRow
// (int32 slot, int32 token, H floats) for the forward dispatch and H floats
// otherwise. The combine returns rows in the order the dispatch delivered
// them, and the backward all-to-alls use their forward's counts, reversed.
//
// Saved state. What a forward keeps for its backward that no buffer carries
// (x, u, a, router probabilities and choices, where each (token, k) row went;
// on the expert side the received rows and their hidden pre-activations)
// lives in the kernels' user data, keyed by (stage, micro-batch, layer):
// created by the forward kernels, consumed by the backward ones, and erased
// by the last user (attn_bwd_w, mlp_bwd_w), so after a step nothing is left
// (ProcessState::savedEntries). A compiled schedule may thus run the
// components of different micro-batches in any order their dependencies
// allow, with the pool holding only the buffers above.
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

/// Bytes of a forward-dispatch row: int32 slot, int32 token, H floats.
size_t dispatchRowBytes(const Shape &shape);
/// Bytes of every other all-to-all's rows: H floats.
size_t valueRowBytes(const Shape &shape);
/// Bytes of an all-to-all buffer with room for `rows` rows.
size_t allToAllBytes(const Shape &shape, size_t rows, size_t rowBytes);

/// The components of a layer, in the order of the header comment.
enum class Component {
  AttnForward,
  MlpForward,
  CombineForward,
  CombineBackward,
  MlpBackwardInput,
  MlpBackwardWeight,
  AttnBackwardInput,
  AttnBackwardWeight,
};
constexpr int kNumComponents = 8;

/// "moe_attn_fwd_l0", ...
std::string kernelName(Component component, int layer);
constexpr const char *kLossKernel = "moe_loss";

/// What the kernels of one process share (through their user data).
class ProcessState {
public:
  ProcessState(const Shape &shape, const std::vector<Layer> &model,
               const Placement &placement, int parallelIndex);

  const Shape shape;
  const Placement placement;
  const int parallelIndex; // this process's index in its group

  /// The layer of the whole model that layer `layer` of stage `stage` is.
  int modelLayer(int stage, int layer) const {
    return stage * shape.layersPerStage + layer;
  }

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
    std::vector<int32_t> top, dest, position; // [T x k]
    std::vector<int64_t> sendCounts;          // rows per group rank
  };
  struct ExpertSide {
    std::vector<int64_t> counts; // rows from each group rank
    std::vector<int32_t> slot;   // per row, the global slot
    std::vector<float> a, z;
  };
  std::mutex mutex; // guards the maps (entries: one kernel at a time)
  std::map<Key, TokenSide> tokenSide;
  std::map<Key, ExpertSide> expertSide;
  std::mutex gradMutex;

  /// The user data of layer `layer`'s kernels (filled by registerKernels).
  struct Binding {
    ProcessState *state;
    int layer;
  };
  std::vector<Binding> bindings;
};

/// Registers every kernel of `state.shape.layersPerStage` layers and the
/// loss on `ctx`, and returns their names (for pwrt_require_kernels).
std::vector<std::string> registerKernels(pwrt_context *ctx,
                                         ProcessState &state);

} // namespace moe

#endif // PIPEWEAVE_EXAMPLES_MOE_KERNELS_H
