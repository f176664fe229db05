//===- Simulator.h - Cost-model simulation of pipeline schedules -*- C++
//-*-===//
//
// Times a compiled schedule under its cost model: when every action runs,
// how busy each rank is, which chain of actions decides the makespan, and how
// many activations each rank keeps alive at its peak. Plain C++20 values on
// top of the schedule library, no MLIR; nothing here throws.
//
// The model (issue 4):
//  - Each rank runs its compute actions in schedule order, one at a time.
//    Send/Recv actions in the schedule are skipped: communication does not
//    occupy the compute resource, and transfers are timed from the dataflow.
//  - An action starts when its rank is free and every input has arrived. The
//    inputs are those of the schedule library's dataflow: F(s,m) needs the
//    activation of F(prev(s),m); B or I(s,m) need F(s,m) and the gradient of
//    B/I(next(s),m) (nothing from the next stage at a direction's last stage,
//    whose loss is local); W(s,m) needs I(s,m). An overlapped F&B pair needs
//    the union of its two parts' inputs and produces both outputs at its end.
//  - An input produced on another rank arrives
//    CostModel::transferTime(bytes) after its producer finishes, with the
//    producing stage's activationBytes (activations) or gradientBytes
//    (gradients); an input produced on the same rank is there at once.
//  - Durations come from the consuming action's stage in the cost model
//    (uneven stages are supported): F = forward, I = backwardInput,
//    W = backwardWeight, B = backward. An overlapped pair of F(s1) and B(s2)
//    costs max(overlapped(s1), overlapped(s2)) -- the one F&B figure of the
//    spec when the stages are uniform, and never less than either half alone
//    (the spec verifier guarantees overlapped >= max(forward, backward)).
//    When the stages have components (issue 8), the caller passes the
//    makespan of the pair's two-stream plan instead (SimulateOptions).
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SIMULATE_SIMULATOR_H
#define PIPEWEAVE_SIMULATE_SIMULATOR_H

#include "passes/Overlap/Overlap.h"
#include "passes/Schedule/CostModel.h"
#include "passes/Schedule/Schedule.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pipeweave::simulate {

//===----------------------------------------------------------------------===//
// Activation memory
//===----------------------------------------------------------------------===//

/// Peak live activations of one rank.
///
/// Lifetime rule: the activation of (stage s, micro-batch m) is live from the
/// start of F(s,m) until the end of the action that frees it -- B(s,m), or
/// W(s,m) when the backward is split into I and W (I keeps it alive). Within
/// one action, allocation therefore comes before release: an overlapped pair
/// holds the activation its F part creates and the one its B part consumes
/// at the same time. Because a rank runs one action at a time, the peak is
/// the maximum over the rank's actions of (live before the action + the
/// activations it allocates); it depends only on the order, not on costs.
///
/// Why this rule: DualPipe's warm-up leaves PP activations live on every
/// rank when its overlapped pairs begin, and each pair allocates one (its F)
/// while still holding the one its B frees, so the peak is PP + 1 on every
/// rank -- DeepSeek's figure. Counting only a pair's net effect would give
/// PP. For 1F1B the rule gives R - r on rank r, for ZB-H1 R on every rank.
struct ActivationPeak {
  int count = 0;     // live (stage, micro-batch) activations at the peak
  int64_t bytes = 0; // the same, each weighted by its stage's
                     // activationMemory (maximised on its own)
};

/// One entry per rank. Stages outside `costs` count as 0 bytes.
std::vector<ActivationPeak> activationPeaks(const schedule::Schedule &schedule,
                                            const schedule::CostModel &costs);

//===----------------------------------------------------------------------===//
// Simulation results
//===----------------------------------------------------------------------===//

/// One compute action as it ran.
struct TimedAction {
  schedule::Action action; // F, I, W, B or OverlapFB
  int index = 0;           // position in schedule.ranks[rank], comm counted
  double start = 0.0;
  double end = 0.0;
};

/// One tensor that crossed ranks: sent when its producer finished, there
/// when its consumer may use it.
struct Transfer {
  schedule::Payload payload = schedule::Payload::Activation;
  int stage = 0; // producing stage
  int microbatch = 0;
  int fromRank = 0;
  int toRank = 0;
  int64_t bytes = 0;
  double sent = 0.0;    // producer's end
  double arrived = 0.0; // sent + CostModel::transferTime(bytes)
};

struct RankResult {
  std::vector<int> stages;           // the stages this rank runs, ascending
  std::vector<TimedAction> timeline; // in execution order
  double busy = 0.0;                 // sum of the rank's action durations
  double bubble = 0.0; // makespan - busy: idle time until the last rank ends
  double bubbleRatio = 0.0; // bubble / makespan (0 for an empty makespan)
  ActivationPeak peakActivations;
};

/// How a critical-path step's start was decided.
enum class StepCause : uint8_t {
  Start,    // it started at time 0 (first step)
  SameRank, // its rank finished the previous step just then
  Transfer, // the previous step (on another rank) produced its latest input
};

struct CriticalStep {
  int rank = 0;
  int index = 0; // position in schedule.ranks[rank]
  schedule::Action action;
  double start = 0.0;
  double end = 0.0;
  StepCause cause = StepCause::Start;
};

/// The chain of actions that decides the makespan, first step first. It ends
/// at the action that finishes last (the lowest rank's on a tie) and follows
/// back, from each step, the constraint that determined its start: the
/// rank's previous action, or the input whose arrival was latest. On a tie
/// the rank's previous action wins, so the path crosses ranks only where a
/// rank actually waited for data. Every step starts when the one before it
/// ends (plus the transfer time where it crosses ranks), and the first at 0.
struct CriticalPath {
  std::vector<CriticalStep> steps;
  int rankCrossings = 0; // steps with cause == Transfer
};

/// Everything the simulator found for one schedule. Self-contained: the
/// report formatters need nothing else.
struct Simulation {
  std::string name; // copied from the schedule
  std::string kind;
  int numRanks = 0;
  int numStages = 0;
  int numMicrobatches = 0;
  int numDirections = 1;

  double makespan = 0.0;    // end of the last action on any rank
  double busy = 0.0;        // summed over ranks
  double bubble = 0.0;      // summed over ranks
  double bubbleRatio = 0.0; // bubble / (numRanks * makespan)
  std::vector<RankResult> ranks;
  std::vector<Transfer> transfers; // in the order their consumers ran
  CriticalPath criticalPath;
  /// Overlapped pairs run as component plans, one row per distinct pair and
  /// order (empty when no stage has components). simulate() leaves it
  /// empty; whoever supplies the plans' durations fills it.
  std::vector<overlap::PairSummary> overlapPairs;

  /// The direction (0-based) a stage belongs to.
  int directionOf(int stage) const;
  /// Compute actions over all ranks.
  int64_t numActions() const;
  /// The largest per-rank peak (count, and bytes maximised separately).
  ActivationPeak maxPeakActivations() const;
  /// Model parameters held by the busiest rank, in units of 1/numRanks of
  /// the model: a direction's stages split one model copy, so a rank with k
  /// stages holds k * numRanks / stagesPerDirection of them (DualPipe 2, its
  /// two copies; 1F1B, ZB-V, DualPipeV, interleaved 1). Stages are taken as
  /// equally large.
  double parameterCopies() const;
  /// The same unit for activations: a (stage, micro-batch) activation holds
  /// numRanks / stagesPerDirection of "one micro-batch through 1/R of the
  /// model" (DualPipe 8x20: 9), the unit of the README's schedule table.
  double peakActivationsInModelUnits() const;
};

/// Where simulation stopped, when it could not finish.
struct SimulationError {
  /// The first rank that cannot proceed and the action it waits at (index
  /// into schedule.ranks[rank]); -1 for problems of the whole input.
  int rank = -1;
  int index = -1;
  /// E.g. "cost model has 4 stages, schedule has 8", or "no rank can
  /// proceed: rank 0 waits at action 3 (0B0) for 1B0 from rank 1; ...".
  std::string message;
};

struct SimulateResult {
  std::optional<Simulation> simulation;
  std::optional<SimulationError> error; // set exactly when simulation is not
};

struct SimulateOptions {
  /// Per rank, per action index: a duration that replaces the cost model's
  /// (e.g. the planned makespan of an overlapped pair's components); empty,
  /// or nullopt for an action, means the cost model's.
  std::vector<std::vector<std::optional<double>>> durations;
};

/// Simulates `schedule` (compute-only or with comm actions) under `costs`.
/// Fails, without simulating, when the cost model does not have one entry
/// per stage, a cost is negative or not finite, the bandwidth is not
/// positive, or an action names a stage or micro-batch out of range; fails
/// when a duration in `options` is negative or not finite; fails
/// when some rank waits for an input that is never produced before it (an
/// order that would deadlock). Schedules that pass validateSchedule() and
/// checkDeadlock() always simulate. Linear in the number of actions.
SimulateResult simulate(const schedule::Schedule &schedule,
                        const schedule::CostModel &costs,
                        const SimulateOptions &options = {});

/// The duration of one compute action under the model above (0 for comm).
double durationOf(const schedule::Action &action,
                  const schedule::CostModel &costs);

/// A cost model with `numStages` identical stages and no transfer cost:
/// F = forward, I = backwardInput, W = backwardWeight, B = I + W, and the
/// overlapped pair = `overlapped` (F + B when not given). Bytes are 0.
schedule::CostModel uniformCosts(int numStages, double forward,
                                 double backwardInput, double backwardWeight,
                                 std::optional<double> overlapped = {});

} // namespace pipeweave::simulate

#endif // PIPEWEAVE_SIMULATE_SIMULATOR_H
