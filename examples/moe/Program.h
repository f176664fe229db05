//===- Program.h - runtime calls of a component schedule --------*- C++ -*-===//
//
// What pipeweave's compiler emits for a schedule whose stages are layers of
// components (the lowering rule of runtime/README.md, "Component
// launches"), written out by hand until the compiler lowers component chains
// itself: this process's actions of a schedule library schedule (with
// communication) become runtime operations on two streams, and a hazard
// analysis over the pool's slots adds the events.
//
// Per action, the items of its chains in order:
//  - forward: the F chain (layer 0..L-1, the components in order); on a last
//    stage the loss follows;
//  - backward: the B chain (layer L-1..0, the components reversed; a
//    compute component runs its backward for input, I, and right after it
//    its backward for weights, W; an all-to-all its backward);
//  - backward_input: the B chain without W; backward_weight: the W items;
//  - an overlapped pair: the F chain and the B chain interleaved, an F item
//    then a B item (any interleaving is valid; a compiled pair follows its
//    plan).
// A compute item is a launch on the compute stream with the component's
// layer; its buffers follow the chain (Kernels.h). An all-to-all item runs
// on the comm stream in the expert-parallel group, from its chain's send
// slot to its receive slot: one pair of slots per action, chain and
// all-to-all component, shared by the chain's layers. Stage-boundary
// activations and gradients go point to point on the comm stream, one group
// per run of the schedule's consecutive sends and receives, the peer being
// the process of the same expert-parallel index on the peer pipeline rank.
// A stream waits for the other only where it reads a slot the other wrote
// or writes one the other used, and only if no earlier wait covers it.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MOE_PROGRAM_H
#define PIPEWEAVE_EXAMPLES_MOE_PROGRAM_H

#include "Model.h"
#include "passes/Schedule/Schedule.h"
#include "pwrt/pwrt.h"

#include <optional>
#include <string>
#include <vector>

namespace moe {

/// One component of a layer, as the spec (moe_dualpipe.mlir) lists it.
struct ComponentSpec {
  std::string name;
  bool allToAll = false;
  // A compute component's kernels; "" where it has none.
  std::string forward, backwardInput, backwardWeight;
  // An all-to-all's row size and capacity in rows (both directions): its
  // slots hold 8 * E + rows * rowBytes bytes.
  size_t rowBytes = 0;
  size_t rows = 0;
  /// The receive slots' rows when smaller than `rows` (to provoke the
  /// runtime's capacity error); 0: `rows`.
  size_t receiveRows = 0;
};

/// The example's layer: attn, dispatch, mlp, combine, unpack. Every
/// all-to-all holds E * T * k rows, all a process can receive.
std::vector<ComponentSpec> moeLayer(const Shape &shape);

/// The runtime operations of one process for one step.
class RankProgram {
public:
  /// Lowers the actions of pipeline rank `pipelineRank` of `schedule` (with
  /// communication) for the process of expert-parallel index
  /// `parallelIndex`; returns an error message or nullopt.
  std::optional<std::string> build(const pipeweave::schedule::Schedule &plan,
                                   const std::vector<ComponentSpec> &layer,
                                   const Shape &shape, int pipelineRank,
                                   int parallelIndex);
  /// Collective: the expert-parallel group, streams, events, the pool and
  /// its slots, the kernel ids. Kernels must be registered.
  pwrt_status setUp(pwrt_context *ctx);
  /// Enqueues one step and ends it (collective).
  pwrt_status step();

  struct Counts {
    int launches = 0, allToAlls = 0, transferGroups = 0, events = 0;
    size_t poolBytes = 0;
  };
  Counts counts() const;
  /// Every kernel the program launches.
  std::vector<std::string> kernels() const;

  // The lowered program (public for inspection; see Program.cpp).
  struct Slot {
    std::string what;
    size_t offset = 0, bytes = 0;
    void *data = nullptr;
  };
  struct Transfer {
    bool isSend = true;
    int slot = -1;
    int peer = -1; // process
    int tag = 0;
    pwrt_payload payload = PWRT_PAYLOAD_ACTIVATION;
    int stage = 0, microbatch = 0;
  };
  enum class OpKind { Launch, AllToAll, Transfers };
  struct Op {
    OpKind kind = OpKind::Launch;
    int stream = 0; // kCompute or kComm
    // Launch and AllToAll: what the runtime's arguments name.
    pwrt_action_kind action = PWRT_ACTION_FORWARD;
    int stage = -1, microbatch = -1, layer = -1;
    std::string kernel;               // Launch
    std::vector<int> inputs, outputs; // Launch: slots
    std::string name;                 // AllToAll
    int send = -1, recv = -1;         // AllToAll: slots
    size_t rowBytes = 0;              // AllToAll
    std::vector<Transfer> transfers;  // Transfers
    // Filled by the hazard analysis.
    std::vector<int> waits; // events, waited for before the op
    int record = -1;        // event recorded after the op, or -1
  };
  static constexpr int kCompute = 0, kComm = 1;

  const std::vector<Op> &ops() const { return program; }
  const std::vector<Slot> &slots() const { return pool; }

  /// An independent check of the events: every two ops on different
  /// streams that use a slot, one of them writing it, must be ordered, the
  /// earlier one (in program order) complete before the later one starts by
  /// stream order and event waits. Returns the first unordered pair, or
  /// nullopt.
  static std::optional<std::string>
  checkOrdering(const std::vector<Op> &ops, const std::vector<Slot> &slots);
  /// checkOrdering() of this program, and of the program without each of
  /// its waits in turn (each must then fail: no wait is redundant). Returns
  /// a problem, or nullopt.
  std::optional<std::string> checkEvents() const;

private:
  void check(pwrt_status status, const char *what);
  void addEvents();

  Shape shape;
  int pipelineRank = 0, parallelIndex = 0, numEvents = 0;
  std::vector<Op> program;
  std::vector<Slot> pool;

  pwrt_context *ctx = nullptr;
  pwrt_group group = -1;
  pwrt_stream streams[2] = {-1, -1};
  std::vector<pwrt_event> events;
  std::vector<pwrt_kernel> kernelIds; // by op, for launches
  bool failed = false;
};

} // namespace moe

#endif // PIPEWEAVE_EXAMPLES_MOE_PROGRAM_H
