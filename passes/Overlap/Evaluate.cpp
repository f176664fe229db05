//===- Evaluate.cpp - Items of a pair, and the timing of one order --------===//

#include "passes/Overlap/Overlap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace pipeweave::overlap;

std::string_view pipeweave::overlap::streamName(Stream stream) {
  return stream == Stream::Compute ? "compute" : "comm";
}

std::string_view pipeweave::overlap::phaseName(Phase phase) {
  switch (phase) {
  case Phase::Forward:
    return "forward";
  case Phase::BackwardInput:
    return "backward_input";
  case Phase::BackwardWeight:
    return "backward_weight";
  case Phase::Backward:
    return "backward";
  }
  return "?";
}

const Item &PairProblem::item(int id) const {
  int numForward = forward.size(), numBackward = backward.size();
  if (id < numForward)
    return forward[id];
  if (id < numForward + numBackward)
    return backward[id - numForward];
  return weights[id - numForward - numBackward];
}

int PairProblem::predecessor(int id) const {
  int numForward = forward.size(), numBackward = backward.size();
  if (id < numForward)
    return id > 0 ? id - 1 : -1;
  if (id < numForward + numBackward)
    return id > numForward ? id - 1 : -1;
  return numForward + weightAfter[id - numForward - numBackward];
}

/// "backward_input attn layer 3", for messages.
static std::string describe(const PairProblem &problem, int id) {
  const Item &item = problem.item(id);
  return std::string(phaseName(item.phase)) + " " + item.component + " layer " +
         std::to_string(item.layer);
}

static std::string formatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

std::optional<std::string>
pipeweave::overlap::checkProblem(const PairProblem &problem) {
  if (problem.weightAfter.size() != problem.weights.size())
    return "the pair has " + std::to_string(problem.weights.size()) +
           " W items but " + std::to_string(problem.weightAfter.size()) +
           " predecessors for them";
  for (int id = 0, e = problem.numItems(); id < e; ++id) {
    double duration = problem.item(id).duration;
    if (!std::isfinite(duration) || duration < 0)
      return describe(problem, id) + " has duration " + formatNumber(duration) +
             "; durations must be finite and >= 0";
  }
  for (size_t w = 0; w < problem.weights.size(); ++w) {
    int after = problem.weightAfter[w];
    if (after < 0 || after >= static_cast<int>(problem.backward.size()))
      return "W item " + std::to_string(w) + " follows backward item " +
             std::to_string(after) + ", out of range (0.." +
             std::to_string(static_cast<int>(problem.backward.size()) - 1) +
             ")";
    if (problem.backward[after].stream != problem.weights[w].stream)
      return "W item " + std::to_string(w) + " runs on the " +
             std::string(streamName(problem.weights[w].stream)) +
             " stream but follows an item on the " +
             std::string(streamName(problem.backward[after].stream)) +
             " stream";
  }
  return std::nullopt;
}

double Evaluation::hiddenFraction() const {
  return commBusy > 0 ? commHidden / commBusy : 1.0;
}

double Evaluation::computeUtilization() const {
  return makespan > 0 ? computeBusy / makespan : 0.0;
}

EvaluateResult pipeweave::overlap::evaluate(const PairProblem &problem,
                                            const Order &order) {
  auto fail = [](std::string message) {
    return EvaluateResult{std::nullopt, std::move(message)};
  };
  int numItems = problem.numItems();
  if (static_cast<int>(order.size()) != numItems)
    return fail("the order has " + std::to_string(order.size()) +
                " items; the pair has " + std::to_string(numItems));
  std::vector<int> position(numItems, -1);
  for (int index = 0; index < numItems; ++index) {
    int id = order[index];
    if (id < 0 || id >= numItems)
      return fail("item id " + std::to_string(id) + " is out of range (0.." +
                  std::to_string(numItems - 1) + ")");
    if (position[id] >= 0)
      return fail(describe(problem, id) + " appears twice");
    position[id] = index;
  }

  // Each stream's items in the order given; run them as their predecessors
  // end until both streams are through or neither can move.
  std::vector<int> sequence[2];
  for (int id : order)
    sequence[static_cast<int>(problem.item(id).stream)].push_back(id);
  std::vector<double> start(numItems), end(numItems);
  std::vector<char> done(numItems, 0);
  size_t cursor[2] = {0, 0};
  double freeAt[2] = {0.0, 0.0};
  for (bool moved = true; moved;) {
    moved = false;
    for (int stream = 0; stream < 2; ++stream) {
      for (; cursor[stream] < sequence[stream].size(); ++cursor[stream]) {
        int id = sequence[stream][cursor[stream]];
        int before = problem.predecessor(id);
        if (before >= 0 && !done[before])
          break;
        start[id] = std::max(freeAt[stream], before >= 0 ? end[before] : 0.0);
        end[id] = start[id] + problem.item(id).duration;
        freeAt[stream] = end[id];
        done[id] = 1;
        moved = true;
      }
    }
  }
  for (int stream = 0; stream < 2; ++stream) {
    if (cursor[stream] == sequence[stream].size())
      continue;
    int id = sequence[stream][cursor[stream]];
    return fail("the order cannot run: the " +
                std::string(streamName(static_cast<Stream>(stream))) +
                " stream waits at " + describe(problem, id) + " for " +
                describe(problem, problem.predecessor(id)) +
                ", which its stream runs later");
  }

  Evaluation evaluation;
  for (int id : order) {
    evaluation.timeline.push_back({id, start[id], end[id]});
    evaluation.makespan = std::max(evaluation.makespan, end[id]);
    (problem.item(id).stream == Stream::Compute ? evaluation.computeBusy
                                                : evaluation.commBusy) +=
        problem.item(id).duration;
  }
  // Each stream runs one item at a time, so its items in stream order are
  // disjoint and sorted: intersect the two lists in one sweep.
  const std::vector<int> &compute = sequence[0], &comm = sequence[1];
  for (size_t a = 0, b = 0; a < compute.size() && b < comm.size();) {
    double overlapStart = std::max(start[compute[a]], start[comm[b]]);
    double overlapEnd = std::min(end[compute[a]], end[comm[b]]);
    if (overlapEnd > overlapStart)
      evaluation.commHidden += overlapEnd - overlapStart;
    if (end[compute[a]] < end[comm[b]])
      ++a;
    else
      ++b;
  }
  return {std::move(evaluation), ""};
}
