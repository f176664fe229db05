//===- Overlap.h - Two-stream planning of an overlapped F&B pair -*- C++
//-*-===//
//
// DualPipe runs the forward chunk of one micro-batch together with the
// backward chunk of another. Cut into components (attention, dispatch, MLP,
// combine per MoE layer), the two chunks become two chains of items; every
// item runs on the compute stream or on the communication stream. This
// library chooses the order of the items on each stream so that the pair
// finishes as early as possible -- communication of one chain then runs
// under computation of the other -- and times any given order (DeepSeek's
// published one, say). Plain C++20, no MLIR; nothing here throws.
//
// The model (issue 8):
//  - The forward chain runs its items in order, each after the previous one
//    ends; so does the backward chain (backward all-to-alls and
//    backward-for-input items, last layer first). A backward-for-weights
//    item (W) follows one backward-chain item on the same stream and
//    nothing waits for it: it may run any time later.
//  - Each stream runs its items one at a time in the order chosen for it;
//    an item starts when its stream is free and its predecessor has ended.
//  - The makespan is the end of the last item; the communication hidden is
//    the time communication runs while the compute stream is busy, as a
//    share of all communication time.
//
// The planner is exact: a dynamic program over (forward items placed,
// backward-chain items placed, W items placed of each distinct duration)
// whose labels are the Pareto-minimal (compute free, communication free,
// forward chain ready, backward chain ready) times, pruned by a lower bound
// against the best order found so far. Placed W items of equal duration are
// interchangeable -- every released W is ready whenever the compute stream
// is free, since it follows an item on that stream -- which keeps the state
// space polynomial for the uniform layers of a chunk.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_OVERLAP_OVERLAP_H
#define PIPEWEAVE_OVERLAP_OVERLAP_H

#include "passes/Schedule/CostModel.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace pipeweave::overlap {

enum class Stream : uint8_t { Compute, Comm };

/// Which part of a component an item runs.
enum class Phase : uint8_t {
  Forward,        // any component in the forward chunk
  BackwardInput,  // a compute component's backward for its input (I)
  BackwardWeight, // a compute component's backward for its weights (W)
  Backward,       // an all-to-all's backward, or a whole chunk's backward
};

/// "compute" / "comm"; "forward", "backward_input", "backward_weight",
/// "backward" (the spellings of the sched dialect).
std::string_view streamName(Stream stream);
std::string_view phaseName(Phase phase);

struct Item {
  std::string component; // e.g. "attn"; "chunk" for a stage without any
  int layer = 0;         // layer of the component within its chunk
  Phase phase = Phase::Forward;
  Stream stream = Stream::Compute;
  double duration = 0.0;
  friend bool operator==(const Item &, const Item &) = default;
};

/// The items of one overlapped pair. Items are numbered: forward[0..nF)
/// are 0..nF-1, backward[0..nB) follow, then weights.
struct PairProblem {
  std::vector<Item> forward;    // the forward chunk's chain, in order
  std::vector<Item> backward;   // the backward chunk's chain, in order
  std::vector<Item> weights;    // W items, off the chain
  std::vector<int> weightAfter; // per W: index in `backward` it follows

  int numItems() const {
    return static_cast<int>(forward.size() + backward.size() + weights.size());
  }
  const Item &item(int id) const;
  /// The item `id` waits for, or -1 for the first item of a chain.
  int predecessor(int id) const;
  friend bool operator==(const PairProblem &, const PairProblem &) = default;
};

/// Why a problem cannot be planned (a W after an item on the other stream or
/// out of range, a duration that is negative or not finite), or nullopt.
std::optional<std::string> checkProblem(const PairProblem &problem);

/// Item ids; each stream runs its items in the order they appear.
using Order = std::vector<int>;

struct TimedItem {
  int item = 0;
  double start = 0.0;
  double end = 0.0;
};

struct Evaluation {
  double makespan = 0.0;
  double computeBusy = 0.0;        // summed compute item durations
  double commBusy = 0.0;           // summed communication item durations
  double commHidden = 0.0;         // communication time with compute running
  std::vector<TimedItem> timeline; // in the order given

  /// commHidden / commBusy; 1 when there is no communication.
  double hiddenFraction() const;
  /// computeBusy / makespan; 0 for an empty pair.
  double computeUtilization() const;
};

struct EvaluateResult {
  std::optional<Evaluation> evaluation;
  std::string error; // set exactly when evaluation is not
};

/// Times `order`. Fails, naming the problem, when it is not every item
/// exactly once or when it cannot run (an item waits for one that its own
/// stream runs later). Linear in the number of items.
EvaluateResult evaluate(const PairProblem &problem, const Order &order);

/// max(compute work, communication work, forward chain, backward chain
/// with the W that follows its last I): no order finishes earlier.
double lowerBound(const PairProblem &problem);

struct PlanOptions {
  /// Labels the exact search may create before it gives up and returns the
  /// best order its heuristics found (provenOptimal = false).
  int64_t maxLabels = 2'000'000;
  /// Start from the best of DeepSeek's order (when the shape fits) and
  /// greedy list schedules, so the search can prune against it. Off only
  /// to test or time the search on its own.
  bool seedWithHeuristics = true;
};

struct Plan {
  Order order;
  Evaluation evaluation;
  double lowerBound = 0.0;
  /// The search finished: no order has a smaller makespan (up to a relative
  /// 1e-9 of rounding).
  bool provenOptimal = false;
  int64_t labels = 0; // labels the search created
};

/// The order with the smallest makespan. Precondition: checkProblem() is
/// nullopt.
Plan planPair(const PairProblem &problem, const PlanOptions &options = {});

//===----------------------------------------------------------------------===//
// Pairs of spec stages
//===----------------------------------------------------------------------===//

/// The pair of the forward chunk of `forwardStage` and the backward chunk of
/// `backwardStage`. A stage with components gives, per layer in order, its
/// components' forward items; its backward chain runs the layers last first
/// and each layer's components last first (an all-to-all's backward, a
/// compute component's I followed off the chain by its W). A stage without
/// components is one compute item "chunk" each way: forward, and backward
/// (its full backward cost, no separate W).
PairProblem pairProblem(const schedule::StageCost &forwardStage,
                        const schedule::StageCost &backwardStage);

/// DeepSeek-V3's published launch order for a pair whose chunks both have
/// L layers of the MoE shape (compute, all-to-all, compute, all-to-all:
/// attention, dispatch, MLP, combine). Layer pair i joins forward layer i
/// with backward layer L-1-i: combine(B), attn(F), mlp(B), dispatch(F),
/// dispatch(B), mlp(W), mlp(F), attn(B), attn(W), combine(F). nullopt for
/// other shapes.
std::optional<Order> deepseekOrder(const PairProblem &problem);

//===----------------------------------------------------------------------===//
// Report rows
//===----------------------------------------------------------------------===//

/// What the report says about one order of a pair.
struct OrderFigures {
  double makespan = 0.0;
  double computeBusy = 0.0;
  double commBusy = 0.0;
  double commHidden = 0.0; // time
  double hiddenFraction = 1.0;
  double computeUtilization = 0.0;

  static OrderFigures of(const Evaluation &evaluation);
};

/// Overlapped actions that share their component chains (costs included)
/// and their order: one row of the report.
struct PairSummary {
  /// (forward stage, backward stage) of the actions, first seen first.
  std::vector<std::pair<int, int>> stagePairs;
  int64_t actions = 0;
  int forwardLayers = 0, backwardLayers = 0; // 1 for a chunk without any
  int items = 0;
  OrderFigures planned; // the order the actions run in
  double lowerBound = 0.0;
  double bestMakespan = 0.0;  // planPair()'s
  bool provenOptimal = false; // bestMakespan is the optimum
  /// DeepSeek's order under the same costs, for the MoE layer shape.
  std::optional<OrderFigures> deepseek;

  /// The planned order is optimal: proven, and as good as the planner's.
  bool plannedIsOptimal() const;
};

/// Collects the overlapped actions of a schedule into report rows, planning
/// each distinct pair once.
class PairSummaries {
public:
  explicit PairSummaries(PlanOptions options = {}) : options(options) {}

  /// Records one action pairing the forward chunk of `forwardStage` with the
  /// backward chunk of `backwardStage`, whose items are `problem`, run in
  /// `order` (planPair()'s best when nullopt). Returns the figures of that
  /// order (its makespan is the action's duration), or an error when the
  /// problem is malformed or the order cannot run.
  std::optional<OrderFigures> add(int forwardStage, int backwardStage,
                                  const PairProblem &problem,
                                  const std::optional<Order> &order,
                                  std::string &error);

  const std::vector<PairSummary> &rows() const { return summaries; }

private:
  struct Known {
    PairProblem problem;
    Plan plan;
    std::optional<OrderFigures> deepseek;
  };
  int knownIndex(int forwardStage, int backwardStage,
                 const PairProblem &problem);

  PlanOptions options;
  std::vector<Known> known;
  std::vector<std::tuple<int, int, int>> knownOfStages; // (fs, bs, index)
  std::vector<std::pair<int, Order>> rowKeys;           // (known, order)
  std::vector<OrderFigures> rowFigures;
  std::vector<PairSummary> summaries;
};

} // namespace pipeweave::overlap

#endif // PIPEWEAVE_OVERLAP_OVERLAP_H
