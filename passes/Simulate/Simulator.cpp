//===- Simulator.cpp - Cost-model simulation of pipeline schedules --------===//
//
// One cursor per rank runs actions as soon as their inputs exist; a rank
// whose next input does not exist yet parks on that tensor until its producer
// runs. Start times are a longest path over the dataflow and rank-order
// edges, so the order in which ranks are advanced does not change them, and
// the whole run is linear in the number of actions.
//
//===----------------------------------------------------------------------===//

#include "passes/Simulate/Simulator.h"

#include "passes/Schedule/Dependencies.h"
#include "passes/Schedule/StrCat.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;
using namespace pipeweave::simulate;

//===----------------------------------------------------------------------===//
// Costs
//===----------------------------------------------------------------------===//

static const StageCost *stageCost(const CostModel &costs, int stage) {
  if (stage < 0 || stage >= static_cast<int>(costs.stages.size()))
    return nullptr;
  return &costs.stages[stage];
}

double pipeweave::simulate::durationOf(const Action &action,
                                       const CostModel &costs) {
  const StageCost *cost = stageCost(costs, action.stage);
  if (action.kind == ActionKind::OverlapFB) {
    const StageCost *backwardCost = stageCost(costs, action.stage2);
    double forwardPart = cost ? cost->overlapped : 0.0;
    double backwardPart = backwardCost ? backwardCost->overlapped : 0.0;
    return std::max(forwardPart, backwardPart);
  }
  if (!cost)
    return 0.0;
  switch (action.kind) {
  case ActionKind::Forward:
    return cost->forward;
  case ActionKind::BackwardInput:
    return cost->backwardInput;
  case ActionKind::BackwardWeight:
    return cost->backwardWeight;
  case ActionKind::Backward:
    return cost->backward;
  default:
    return 0.0;
  }
}

CostModel pipeweave::simulate::uniformCosts(int numStages, double forward,
                                            double backwardInput,
                                            double backwardWeight,
                                            std::optional<double> overlapped) {
  StageCost stage;
  stage.forward = forward;
  stage.backwardInput = backwardInput;
  stage.backwardWeight = backwardWeight;
  stage.backward = backwardInput + backwardWeight;
  stage.overlapped = overlapped.value_or(forward + stage.backward);
  CostModel costs;
  costs.stages.assign(std::max(numStages, 0), stage);
  return costs;
}

/// A cost as people write it ("-1", "2.5", "nan"), for messages.
static std::string formatValue(double value) {
  std::array<char, 32> buffer;
  int length = std::snprintf(buffer.data(), buffer.size(), "%g", value);
  return std::string(buffer.data(), std::max(length, 0));
}

static int64_t transferBytes(const CostModel &costs, const Tensor &tensor) {
  const StageCost *cost = stageCost(costs, tensor.stage);
  if (!cost)
    return 0;
  return tensor.payload == Payload::Activation ? cost->activationBytes
                                               : cost->gradientBytes;
}

//===----------------------------------------------------------------------===//
// Activation memory
//===----------------------------------------------------------------------===//

std::vector<ActivationPeak>
pipeweave::simulate::activationPeaks(const Schedule &schedule,
                                     const CostModel &costs) {
  auto memoryOf = [&](int stage) -> int64_t {
    const StageCost *cost = stageCost(costs, stage);
    return cost ? cost->activationMemory : 0;
  };
  std::vector<ActivationPeak> peaks(schedule.ranks.size());
  for (size_t rank = 0; rank < schedule.ranks.size(); ++rank) {
    int liveCount = 0;
    int64_t liveBytes = 0;
    ActivationPeak &peak = peaks[rank];
    for (const Action &action : schedule.ranks[rank]) {
      // Allocate first: the action holds what it creates while it still
      // reads what it frees.
      int allocatedCount = 0, freedCount = 0;
      int64_t allocatedBytes = 0, freedBytes = 0;
      for (const ComputeOp &op : computeOpsOf(action)) {
        if (op.kind == ActionKind::Forward) {
          ++allocatedCount;
          allocatedBytes += memoryOf(op.stage);
        } else if (op.kind == ActionKind::Backward ||
                   op.kind == ActionKind::BackwardWeight) {
          ++freedCount;
          freedBytes += memoryOf(op.stage);
        }
      }
      peak.count = std::max(peak.count, liveCount + allocatedCount);
      peak.bytes = std::max(peak.bytes, liveBytes + allocatedBytes);
      liveCount += allocatedCount - freedCount;
      liveBytes += allocatedBytes - freedBytes;
    }
  }
  return peaks;
}

//===----------------------------------------------------------------------===//
// Simulation
//===----------------------------------------------------------------------===//

int Simulation::directionOf(int stage) const {
  int perDirection = numDirections > 0 ? numStages / numDirections : 0;
  return perDirection > 0 ? stage / perDirection : 0;
}

int64_t Simulation::numActions() const {
  int64_t total = 0;
  for (const RankResult &rank : ranks)
    total += rank.timeline.size();
  return total;
}

ActivationPeak Simulation::maxPeakActivations() const {
  ActivationPeak most;
  for (const RankResult &rank : ranks) {
    most.count = std::max(most.count, rank.peakActivations.count);
    most.bytes = std::max(most.bytes, rank.peakActivations.bytes);
  }
  return most;
}

/// numRanks / stagesPerDirection: the share of "1/R of the model" one stage
/// holds.
static double modelUnitsPerStage(const Simulation &simulation) {
  if (simulation.numStages <= 0 || simulation.numDirections <= 0)
    return 0.0;
  double stagesPerDirection =
      static_cast<double>(simulation.numStages) / simulation.numDirections;
  return simulation.numRanks / stagesPerDirection;
}

double Simulation::parameterCopies() const {
  size_t mostStages = 0;
  for (const RankResult &rank : ranks)
    mostStages = std::max(mostStages, rank.stages.size());
  return mostStages * modelUnitsPerStage(*this);
}

double Simulation::peakActivationsInModelUnits() const {
  return maxPeakActivations().count * modelUnitsPerStage(*this);
}

namespace {
/// The step a timed action's start is attributed to.
struct Link {
  int rank = -1;
  int slot = -1; // position in that rank's timeline
  StepCause cause = StepCause::Start;
};

/// Where an action sits in the schedule.
struct Position {
  int rank = -1;
  int index = -1;
};

/// Where an action sits in the simulated timelines.
struct Slot {
  int rank = -1;
  int slot = -1;
};

struct RankState {
  int cursor = 0;          // next action in schedule.ranks[rank]
  double freeAt = 0.0;     // end of its last action
  int64_t parkedOn = -1;   // tensor it waits for
  int nextParked = -1;     // next rank parked on the same tensor
  std::vector<Link> links; // one per timeline entry
};

class Simulator {
public:
  Simulator(const Schedule &schedule, const CostModel &costs,
            const SimulateOptions &options)
      : schedule(schedule), costs(costs), options(options), tensors(schedule),
        numRanks(schedule.ranks.size()), states(numRanks),
        readyAt(tensors.size(), 0.0), producer(tensors.size()),
        firstParked(tensors.size(), -1), transferred(tensors.size(), 0) {}

  SimulateResult run() {
    if (std::optional<SimulationError> error = checkInputs())
      return {std::nullopt, std::move(error)};
    initResult();
    for (int rank = numRanks - 1; rank >= 0; --rank)
      worklist.push_back(rank);
    while (!worklist.empty()) {
      int rank = worklist.back();
      worklist.pop_back();
      advance(rank);
    }
    if (std::optional<SimulationError> error = stuckError())
      return {std::nullopt, std::move(error)};
    finishResult();
    return {std::move(result), std::nullopt};
  }

private:
  //===--------------------------------------------------------------------===//
  // Input checks
  //===--------------------------------------------------------------------===//

  std::optional<SimulationError> checkInputs() const {
    auto wholeInput = [](std::string message) {
      return SimulationError{-1, -1, std::move(message)};
    };
    if (schedule.numDirections < 1 || schedule.numStages < 0 ||
        schedule.numStages % schedule.numDirections != 0 ||
        schedule.numMicrobatches % schedule.numDirections != 0)
      return wholeInput(
          strCat("schedule has ", schedule.numStages, " stages and ",
                 schedule.numMicrobatches, " micro-batches, which its ",
                 schedule.numDirections, " direction(s) do not divide evenly"));
    if (static_cast<int>(costs.stages.size()) != schedule.numStages)
      return wholeInput(strCat("cost model has ", costs.stages.size(),
                               " stages, schedule has ", schedule.numStages));
    auto bad = [](double value) { return !std::isfinite(value) || value < 0; };
    if (bad(costs.p2pLatency))
      return wholeInput(strCat("p2p latency ", formatValue(costs.p2pLatency),
                               " is not a finite non-negative time"));
    if (costs.p2pBandwidth &&
        (!std::isfinite(*costs.p2pBandwidth) || *costs.p2pBandwidth <= 0))
      return wholeInput(strCat("p2p bandwidth ",
                               formatValue(*costs.p2pBandwidth),
                               " is not a finite positive rate"));
    for (int stage = 0; stage < schedule.numStages; ++stage) {
      const StageCost &cost = costs.stages[stage];
      for (double value : {cost.forward, cost.backwardInput,
                           cost.backwardWeight, cost.backward, cost.overlapped})
        if (bad(value))
          return wholeInput(strCat("stage ", stage, " has cost ",
                                   formatValue(value),
                                   "; costs must be finite and >= 0"));
      if (cost.activationBytes < 0 || cost.gradientBytes < 0 ||
          cost.activationMemory < 0)
        return wholeInput(strCat("stage ", stage, " has a negative size"));
    }
    for (int rank = 0;
         rank < numRanks && rank < static_cast<int>(options.durations.size());
         ++rank)
      for (size_t index = 0; index < options.durations[rank].size(); ++index)
        if (std::optional<double> duration = options.durations[rank][index];
            duration && bad(*duration))
          return SimulationError{rank, static_cast<int>(index),
                                 strCat("rank ", rank, " action ", index,
                                        " is given duration ",
                                        formatValue(*duration),
                                        "; durations must be finite and >= 0")};
    for (int rank = 0; rank < numRanks; ++rank) {
      const std::vector<Action> &actions = schedule.ranks[rank];
      for (int index = 0, e = actions.size(); index < e; ++index)
        for (const ComputeOp &op : computeOpsOf(actions[index]))
          if (tensors.of({Payload::Activation, op.stage, op.microbatch}) < 0)
            return SimulationError{
                rank, index,
                strCat("rank ", rank, " action ", index, " (",
                       actions[index].str(), ") names stage ", op.stage,
                       " micro-batch ", op.microbatch, ", out of range (",
                       schedule.numStages, " stages, ",
                       schedule.microbatchesPerStage(),
                       " micro-batches per stage)")};
    }
    return std::nullopt;
  }

  //===--------------------------------------------------------------------===//
  // Execution
  //===--------------------------------------------------------------------===//

  void initResult() {
    result.name = schedule.name;
    result.kind = schedule.kind;
    result.numRanks = numRanks;
    result.numStages = schedule.numStages;
    result.numMicrobatches = schedule.numMicrobatches;
    result.numDirections = schedule.numDirections;
    result.ranks.resize(numRanks);
    for (int rank = 0; rank < numRanks; ++rank) {
      size_t computeActions = 0;
      std::vector<int> &stages = result.ranks[rank].stages;
      for (const Action &action : schedule.ranks[rank]) {
        if (action.isComm())
          continue;
        ++computeActions;
        // A rank runs a handful of stages: a linear search beats sorting
        // one entry per action.
        for (const ComputeOp &op : computeOpsOf(action))
          if (std::find(stages.begin(), stages.end(), op.stage) == stages.end())
            stages.push_back(op.stage);
      }
      std::sort(stages.begin(), stages.end());
      result.ranks[rank].timeline.reserve(computeActions);
      states[rank].links.reserve(computeActions);
    }
  }

  /// When `tensor` is usable on `rank`; its producer has run.
  double arrivalAt(int rank, int64_t key, const Tensor &tensor) const {
    double ready = readyAt[key];
    if (producer[key].rank == rank)
      return ready;
    return ready + costs.transferTime(transferBytes(costs, tensor));
  }

  /// Runs `rank`'s actions until it finishes or needs a missing tensor.
  void advance(int rank) {
    RankState &state = states[rank];
    RankResult &out = result.ranks[rank];
    const std::vector<Action> &actions = schedule.ranks[rank];
    for (int e = actions.size(); state.cursor < e; ++state.cursor) {
      const Action &action = actions[state.cursor];
      if (action.isComm())
        continue;
      PairList<ComputeOp> ops = computeOpsOf(action);

      // The rank's previous action binds unless an input arrives later.
      double start = state.freeAt;
      Link link;
      if (!out.timeline.empty())
        link = {rank, static_cast<int>(out.timeline.size()) - 1,
                StepCause::SameRank};
      std::array<Tensor, 4> inputs;
      int numInputs = 0;
      for (const ComputeOp &op : ops) {
        for (const Tensor &input : inputsOf(schedule, op)) {
          int64_t key = tensors.of(input);
          if (producer[key].rank < 0) {
            park(rank, key);
            return;
          }
          inputs[numInputs++] = input;
          double arrival = arrivalAt(rank, key, input);
          if (arrival > start) {
            start = arrival;
            link = {producer[key].rank, producer[key].slot,
                    producer[key].rank == rank ? StepCause::SameRank
                                               : StepCause::Transfer};
          }
        }
      }
      for (int i = 0; i < numInputs; ++i)
        recordTransfer(rank, inputs[i]);

      double end = start + durationAt(rank, state.cursor, action);
      int slot = out.timeline.size();
      out.timeline.push_back({action, state.cursor, start, end});
      state.links.push_back(link);
      state.freeAt = end;
      for (const ComputeOp &op : ops)
        if (std::optional<Tensor> output = outputOf(op))
          produce(tensors.of(*output), rank, slot, end);
    }
  }

  double durationAt(int rank, int index, const Action &action) const {
    if (rank < static_cast<int>(options.durations.size()) &&
        index < static_cast<int>(options.durations[rank].size()))
      if (std::optional<double> duration = options.durations[rank][index])
        return *duration;
    return durationOf(action, costs);
  }

  void park(int rank, int64_t key) {
    states[rank].parkedOn = key;
    states[rank].nextParked = firstParked[key];
    firstParked[key] = rank;
  }

  /// Marks the tensor produced and wakes the ranks parked on it.
  void produce(int64_t key, int rank, int slot, double end) {
    producer[key] = {rank, slot};
    readyAt[key] = end;
    for (int parked = firstParked[key]; parked >= 0;) {
      int next = states[parked].nextParked;
      states[parked].parkedOn = -1;
      states[parked].nextParked = -1;
      worklist.push_back(parked);
      parked = next;
    }
    firstParked[key] = -1;
  }

  void recordTransfer(int rank, const Tensor &tensor) {
    int64_t key = tensors.of(tensor);
    int from = producer[key].rank;
    if (from == rank || transferred[key])
      return;
    transferred[key] = 1;
    int64_t bytes = transferBytes(costs, tensor);
    double sent = readyAt[key];
    result.transfers.push_back({tensor.payload, tensor.stage, tensor.microbatch,
                                from, rank, bytes, sent,
                                sent + costs.transferTime(bytes)});
  }

  //===--------------------------------------------------------------------===//
  // Results
  //===--------------------------------------------------------------------===//

  /// The planned producer of `tensor` (first in rank order), for messages.
  std::optional<Position> plannedProducer(const Tensor &tensor) const {
    for (int rank = 0; rank < numRanks; ++rank) {
      const std::vector<Action> &actions = schedule.ranks[rank];
      for (int index = 0, e = actions.size(); index < e; ++index)
        for (const ComputeOp &op : computeOpsOf(actions[index]))
          if (std::optional<Tensor> output = outputOf(op);
              output && output->payload == tensor.payload &&
              output->stage == tensor.stage &&
              output->microbatch == tensor.microbatch)
            return Position{rank, index};
    }
    return std::nullopt;
  }

  /// Describes every rank parked on a tensor that never came.
  std::optional<SimulationError> stuckError() const {
    std::optional<SimulationError> error;
    for (int rank = 0; rank < numRanks; ++rank) {
      const RankState &state = states[rank];
      if (state.cursor >= static_cast<int>(schedule.ranks[rank].size()))
        continue;
      const Action &action = schedule.ranks[rank][state.cursor];
      // The parked tensor is the first missing input of the action.
      std::optional<Tensor> missing;
      for (const ComputeOp &op : computeOpsOf(action))
        for (const Tensor &input : inputsOf(schedule, op))
          if (!missing && producer[tensors.of(input)].rank < 0)
            missing = input;
      std::string line = strCat("rank ", rank, " waits at action ",
                                state.cursor, " (", action.str(), ")");
      if (missing) {
        line += strCat(
            " for the ",
            missing->payload == Payload::Activation ? "activation" : "gradient",
            " of stage ", missing->stage, " micro-batch ", missing->microbatch);
        if (std::optional<Position> from = plannedProducer(*missing))
          line +=
              strCat(", made by rank ", from->rank, " action ", from->index,
                     " (", schedule.ranks[from->rank][from->index].str(), ")");
        else
          line += ", which no action makes";
      }
      if (!error)
        error = SimulationError{rank, state.cursor, "no rank can proceed: "};
      else
        error->message += "; ";
      error->message += line;
    }
    return error;
  }

  void finishResult() {
    double makespan = 0.0;
    for (const RankResult &rank : result.ranks)
      if (!rank.timeline.empty())
        makespan = std::max(makespan, rank.timeline.back().end);
    result.makespan = makespan;

    std::vector<ActivationPeak> peaks = activationPeaks(schedule, costs);
    for (int rank = 0; rank < numRanks; ++rank) {
      RankResult &out = result.ranks[rank];
      for (const TimedAction &timed : out.timeline)
        out.busy += timed.end - timed.start;
      out.bubble = makespan - out.busy;
      out.bubbleRatio = makespan > 0 ? out.bubble / makespan : 0.0;
      out.peakActivations = peaks[rank];
      result.busy += out.busy;
      result.bubble += out.bubble;
    }
    result.bubbleRatio = makespan > 0 && numRanks > 0
                             ? result.bubble / (numRanks * makespan)
                             : 0.0;
    traceCriticalPath();
  }

  void traceCriticalPath() {
    Link at;
    double latest = -1.0;
    for (int rank = 0; rank < numRanks; ++rank) {
      const std::vector<TimedAction> &timeline = result.ranks[rank].timeline;
      if (!timeline.empty() && timeline.back().end > latest) {
        latest = timeline.back().end;
        at = {rank, static_cast<int>(timeline.size()) - 1, StepCause::Start};
      }
    }
    CriticalPath &path = result.criticalPath;
    while (at.rank >= 0) {
      const TimedAction &timed = result.ranks[at.rank].timeline[at.slot];
      const Link &cause = states[at.rank].links[at.slot];
      path.steps.push_back({at.rank, timed.index, timed.action, timed.start,
                            timed.end, cause.cause});
      if (cause.cause == StepCause::Transfer)
        ++path.rankCrossings;
      at = cause;
    }
    std::reverse(path.steps.begin(), path.steps.end());
  }

  const Schedule &schedule;
  const CostModel &costs;
  const SimulateOptions &options;
  TensorIndex tensors;
  int numRanks;
  std::vector<RankState> states;
  std::vector<double> readyAt;      // per tensor: producer's end
  std::vector<Slot> producer;       // per tensor: where it was made
  std::vector<int> firstParked;     // per tensor: head of its parked ranks
  std::vector<uint8_t> transferred; // per tensor: Transfer recorded
  std::vector<int> worklist;
  Simulation result;
};
} // namespace

SimulateResult pipeweave::simulate::simulate(const Schedule &schedule,
                                             const CostModel &costs,
                                             const SimulateOptions &options) {
  return Simulator(schedule, costs, options).run();
}
