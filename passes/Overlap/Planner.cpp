//===- Planner.cpp - Exact two-stream planning of an overlapped pair ------===//
//
// Orders are built by appending one item at a time: the next forward item,
// the next backward-chain item, or a released W. An appended item starts at
// max(its stream free, its predecessor's end), so a partial order is fully
// described for the future by its state -- (forward items placed, backward
// items placed, W items placed per W type) -- and its label (compute free,
// communication free, forward chain ready, backward chain ready). Every pair
// of stream orders that can run is reached this way, and times only grow
// with the label, so keeping the Pareto-minimal labels of each state loses
// no optimum. A W type is a (stream, duration) pair: released Ws of one type
// are interchangeable (each is ready by the time its stream is free), so the
// earliest-released one is placed first.
//
//===----------------------------------------------------------------------===//

#include "passes/Overlap/Overlap.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>

using namespace pipeweave::overlap;

namespace {

struct Label {
  double free[2];       // compute, comm: when the stream is free
  double forwardReady;  // the next forward item may start (normalised)
  double backwardReady; // the next backward-chain item may start
  int parent;           // label this one extends; -1 for the root
  int item;             // the item appended; -1 for the root
};

bool dominates(const Label &a, const Label &b) {
  return a.free[0] <= b.free[0] && a.free[1] <= b.free[1] &&
         a.forwardReady <= b.forwardReady && a.backwardReady <= b.backwardReady;
}

class Planner {
public:
  Planner(const PairProblem &problem, const PlanOptions &options)
      : problem(problem), options(options), numForward(problem.forward.size()),
        numBackward(problem.backward.size()) {
    groupWeights();
    computeTails();
  }

  double lowerBound() const {
    return std::max(
        {remainingWork[0], remainingWork[1], forwardTail[0], backwardTail[0]});
  }

  Plan run() {
    Plan plan;
    plan.lowerBound = lowerBound();
    if (options.seedWithHeuristics)
      seedIncumbent();
    plan.provenOptimal = search();
    if (incumbent.size() != static_cast<size_t>(problem.numItems()))
      consider(greedy(0)); // over budget before any order was found
    plan.labels = static_cast<int64_t>(labels.size());
    plan.order = incumbent;
    EvaluateResult timed = evaluate(problem, incumbent);
    plan.evaluation = std::move(*timed.evaluation);
    return plan;
  }

private:
  //===--------------------------------------------------------------------===//
  // Problem tables
  //===--------------------------------------------------------------------===//

  void groupWeights() {
    std::map<std::pair<int, double>, int> typeOf;
    for (size_t w = 0; w < problem.weights.size(); ++w) {
      const Item &weight = problem.weights[w];
      auto key = std::pair{static_cast<int>(weight.stream), weight.duration};
      auto [it, inserted] = typeOf.try_emplace(key, typeMembers.size());
      if (inserted) {
        typeMembers.emplace_back();
        typeStream.push_back(weight.stream);
        typeDuration.push_back(weight.duration);
      }
      typeMembers[it->second].push_back(static_cast<int>(w));
    }
    int numTypes = typeMembers.size();
    for (std::vector<int> &members : typeMembers)
      std::stable_sort(members.begin(), members.end(), [&](int a, int b) {
        return problem.weightAfter[a] < problem.weightAfter[b];
      });
    // released[j * numTypes + t]: Ws of type t released once j backward
    // items are placed.
    released.assign((numBackward + 1) * numTypes, 0);
    for (int t = 0; t < numTypes; ++t)
      for (int w : typeMembers[t])
        for (int j = problem.weightAfter[w] + 1; j <= numBackward; ++j)
          ++released[j * numTypes + t];
    // Mixed radix of the placed-W counts in a state key.
    radix.assign(numTypes, 1);
    double keySpace = (numForward + 1.0) * (numBackward + 1.0);
    for (int t = 0; t < numTypes; ++t) {
      radix[t] = static_cast<uint64_t>(keySpace);
      keySpace *= typeMembers[t].size() + 1.0;
    }
    keySpaceFits = keySpace < 9.0e15;
  }

  void computeTails() {
    forwardTail.assign(numForward + 1, 0.0);
    for (int i = numForward - 1; i >= 0; --i)
      forwardTail[i] = forwardTail[i + 1] + problem.forward[i].duration;
    std::vector<double> weightAfterTail(numBackward, 0.0);
    for (size_t w = 0; w < problem.weights.size(); ++w)
      weightAfterTail[problem.weightAfter[w]] = std::max(
          weightAfterTail[problem.weightAfter[w]], problem.weights[w].duration);
    backwardTail.assign(numBackward + 1, 0.0);
    for (int j = numBackward - 1; j >= 0; --j)
      backwardTail[j] = problem.backward[j].duration +
                        std::max(weightAfterTail[j], backwardTail[j + 1]);
    for (int s = 0; s < 2; ++s) {
      forwardWork[s].assign(numForward + 1, 0.0);
      backwardWork[s].assign(numBackward + 1, 0.0);
    }
    for (int i = numForward - 1; i >= 0; --i)
      for (int s = 0; s < 2; ++s)
        forwardWork[s][i] = forwardWork[s][i + 1] +
                            (static_cast<int>(problem.forward[i].stream) == s
                                 ? problem.forward[i].duration
                                 : 0.0);
    for (int j = numBackward - 1; j >= 0; --j)
      for (int s = 0; s < 2; ++s)
        backwardWork[s][j] = backwardWork[s][j + 1] +
                             (static_cast<int>(problem.backward[j].stream) == s
                                  ? problem.backward[j].duration
                                  : 0.0);
    for (int s = 0; s < 2; ++s) {
      remainingWork[s] = forwardWork[s][0] + backwardWork[s][0];
      for (const Item &weight : problem.weights)
        if (static_cast<int>(weight.stream) == s)
          remainingWork[s] += weight.duration;
    }
  }

  //===--------------------------------------------------------------------===//
  // States
  //===--------------------------------------------------------------------===//

  struct State {
    int placedForward = 0, placedBackward = 0;
    std::vector<int> placedWeights; // per W type
  };

  uint64_t keyOf(const State &state) const {
    uint64_t key =
        static_cast<uint64_t>(state.placedForward) * (numBackward + 1) +
        state.placedBackward;
    for (size_t t = 0; t < radix.size(); ++t)
      key += radix[t] * state.placedWeights[t];
    return key;
  }

  State stateOf(uint64_t key) const {
    State state;
    int numTypes = radix.size();
    state.placedWeights.assign(numTypes, 0);
    for (int t = numTypes - 1; t >= 0; --t) {
      state.placedWeights[t] = key / radix[t];
      key %= radix[t];
    }
    state.placedForward = key / (numBackward + 1);
    state.placedBackward = key % (numBackward + 1);
    return state;
  }

  /// Ready times that only matter through the next item's stream: the next
  /// forward item starts at max(its stream free, forwardReady), and stream
  /// free times only grow, so raising the ready time to that stream's free
  /// time changes nothing and lets more labels dominate each other.
  void normalise(Label &label, const State &state) const {
    label.forwardReady =
        state.placedForward < numForward
            ? std::max(label.forwardReady,
                       label.free[static_cast<int>(
                           problem.forward[state.placedForward].stream)])
            : 0.0;
    label.backwardReady =
        state.placedBackward < numBackward
            ? std::max(label.backwardReady,
                       label.free[static_cast<int>(
                           problem.backward[state.placedBackward].stream)])
            : 0.0;
  }

  /// No completion of `label` in `state` ends before this.
  double boundOf(const Label &label, const State &state) const {
    double work[2];
    for (int s = 0; s < 2; ++s)
      work[s] = forwardWork[s][state.placedForward] +
                backwardWork[s][state.placedBackward];
    for (size_t t = 0; t < typeMembers.size(); ++t)
      work[static_cast<int>(typeStream[t])] +=
          (typeMembers[t].size() - state.placedWeights[t]) * typeDuration[t];
    return std::max({label.free[0] + work[0], label.free[1] + work[1],
                     label.forwardReady + forwardTail[state.placedForward],
                     label.backwardReady + backwardTail[state.placedBackward]});
  }

  /// The label after appending `item` on `stream` for `duration`, starting
  /// no earlier than `ready`.
  static Label append(const Label &from, int fromIndex, int item, Stream stream,
                      double duration, double ready) {
    Label next = from;
    int s = static_cast<int>(stream);
    double end = std::max(from.free[s], ready) + duration;
    next.free[s] = end;
    next.parent = fromIndex;
    next.item = item;
    return next;
  }

  /// Calls `visit(item id, next state, next label)` for each item that may
  /// be appended to `label` in `state`.
  template <typename Visit>
  void forEachSuccessor(const State &state, const Label &label, int labelIndex,
                        Visit &&visit) const {
    if (state.placedForward < numForward) {
      const Item &item = problem.forward[state.placedForward];
      Label next = append(label, labelIndex, state.placedForward, item.stream,
                          item.duration, label.forwardReady);
      next.forwardReady = next.free[static_cast<int>(item.stream)];
      State after = state;
      ++after.placedForward;
      normalise(next, after);
      visit(after, next);
    }
    if (state.placedBackward < numBackward) {
      const Item &item = problem.backward[state.placedBackward];
      Label next = append(label, labelIndex, numForward + state.placedBackward,
                          item.stream, item.duration, label.backwardReady);
      next.backwardReady = next.free[static_cast<int>(item.stream)];
      State after = state;
      ++after.placedBackward;
      normalise(next, after);
      visit(after, next);
    }
    int numTypes = typeMembers.size();
    for (int t = 0; t < numTypes; ++t) {
      int placed = state.placedWeights[t];
      if (placed >= released[state.placedBackward * numTypes + t])
        continue;
      int weight = typeMembers[t][placed];
      Label next = append(label, labelIndex, numForward + numBackward + weight,
                          typeStream[t], typeDuration[t], 0.0);
      State after = state;
      ++after.placedWeights[t];
      normalise(next, after);
      visit(after, next);
    }
  }

  Order orderOf(int labelIndex) const {
    Order order;
    for (int at = labelIndex; at >= 0 && labels[at].item >= 0;
         at = labels[at].parent)
      order.push_back(labels[at].item);
    std::reverse(order.begin(), order.end());
    return order;
  }

  //===--------------------------------------------------------------------===//
  // Heuristic orders: the incumbent the search must beat
  //===--------------------------------------------------------------------===//

  void consider(const Order &order) {
    EvaluateResult timed = evaluate(problem, order);
    if (timed.evaluation && timed.evaluation->makespan < incumbentMakespan) {
      incumbentMakespan = timed.evaluation->makespan;
      incumbent = order;
    }
  }

  /// List scheduling: append the item that can start first; ties go by
  /// `preference` (0: backward chain first, 1: forward chain first, 2: the
  /// chain with the longer tail first), W items last.
  Order greedy(int preference) const {
    Order order;
    State state;
    state.placedWeights.assign(typeMembers.size(), 0);
    Label label{{0.0, 0.0}, 0.0, 0.0, -1, -1};
    normalise(label, state);
    int total = problem.numItems();
    while (static_cast<int>(order.size()) < total) {
      struct Choice {
        State state;
        Label label;
        double start;
        int rank;
      };
      std::optional<Choice> best;
      forEachSuccessor(
          state, label, -1, [&](const State &after, const Label &next) {
            const Item &item = problem.item(next.item);
            double start =
                next.free[static_cast<int>(item.stream)] - item.duration;
            bool isForward = next.item < numForward;
            bool isBackward =
                !isForward && next.item < numForward + numBackward;
            int rank = 2;
            if (isForward || isBackward) {
              bool forwardFirst =
                  preference == 1 ||
                  (preference == 2 && forwardTail[state.placedForward] >
                                          backwardTail[state.placedBackward]);
              rank = isForward == forwardFirst ? 0 : 1;
            }
            if (!best || start < best->start ||
                (start == best->start && rank < best->rank))
              best = Choice{after, next, start, rank};
          });
      order.push_back(best->label.item);
      state = best->state;
      label = best->label;
    }
    return order;
  }

  void seedIncumbent() {
    if (std::optional<Order> deepseek = deepseekOrder(problem))
      consider(*deepseek);
    for (int preference = 0; preference < 3; ++preference)
      consider(greedy(preference));
  }

  //===--------------------------------------------------------------------===//
  // Exact search
  //===--------------------------------------------------------------------===//

  /// Breadth-first over the number of items placed; returns whether it
  /// finished (the incumbent is then optimal).
  bool search() {
    if (!keySpaceFits)
      return false;
    int total = problem.numItems();
    double tolerance = 1e-9 * std::max(1.0, incumbentMakespan);
    State start;
    start.placedWeights.assign(typeMembers.size(), 0);
    Label root{{0.0, 0.0}, 0.0, 0.0, -1, -1};
    normalise(root, start);
    labels.push_back(root);
    std::unordered_map<uint64_t, std::vector<int>> layer, next;
    layer[keyOf(start)].push_back(0);
    for (int placed = 0; placed < total; ++placed) {
      // Expand states in key order so that ties resolve the same way on
      // every run.
      std::vector<uint64_t> keys;
      keys.reserve(layer.size());
      for (const auto &entry : layer)
        keys.push_back(entry.first);
      std::sort(keys.begin(), keys.end());
      next.clear();
      for (uint64_t key : keys) {
        State state = stateOf(key);
        for (int index : layer[key]) {
          Label label = labels[index];
          bool overBudget = false;
          forEachSuccessor(state, label, index,
                           [&](const State &after, const Label &candidate) {
                             if (boundOf(candidate, after) >=
                                 incumbentMakespan - tolerance)
                               return;
                             std::vector<int> &front = next[keyOf(after)];
                             for (int other : front)
                               if (dominates(labels[other], candidate))
                                 return;
                             std::erase_if(front, [&](int other) {
                               return dominates(candidate, labels[other]);
                             });
                             front.push_back(static_cast<int>(labels.size()));
                             labels.push_back(candidate);
                             overBudget |= static_cast<int64_t>(labels.size()) >
                                           options.maxLabels;
                           });
          if (overBudget)
            return false;
        }
      }
      std::swap(layer, next);
    }
    // Survivors placed everything and end before the incumbent.
    for (const auto &[key, front] : layer)
      for (int index : front) {
        double makespan =
            std::max(labels[index].free[0], labels[index].free[1]);
        if (makespan < incumbentMakespan) {
          incumbentMakespan = makespan;
          incumbent = orderOf(index);
        }
      }
    return true;
  }

  const PairProblem &problem;
  const PlanOptions &options;
  int numForward, numBackward;

  std::vector<std::vector<int>> typeMembers; // per W type, release order
  std::vector<Stream> typeStream;
  std::vector<double> typeDuration;
  std::vector<int> released;
  std::vector<uint64_t> radix;
  bool keySpaceFits = true;

  std::vector<double> forwardTail, backwardTail;
  std::vector<double> forwardWork[2], backwardWork[2];
  double remainingWork[2] = {0.0, 0.0};

  std::vector<Label> labels;
  Order incumbent;
  double incumbentMakespan = std::numeric_limits<double>::infinity();
};

} // namespace

double pipeweave::overlap::lowerBound(const PairProblem &problem) {
  return Planner(problem, PlanOptions()).lowerBound();
}

Plan pipeweave::overlap::planPair(const PairProblem &problem,
                                  const PlanOptions &options) {
  return Planner(problem, options).run();
}
