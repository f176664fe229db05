//===- Summary.cpp - Report rows of a schedule's overlapped pairs ---------===//

#include "passes/Overlap/Overlap.h"

#include <algorithm>

using namespace pipeweave::overlap;

OrderFigures OrderFigures::of(const Evaluation &evaluation) {
  OrderFigures figures;
  figures.makespan = evaluation.makespan;
  figures.computeBusy = evaluation.computeBusy;
  figures.commBusy = evaluation.commBusy;
  figures.commHidden = evaluation.commHidden;
  figures.hiddenFraction = evaluation.hiddenFraction();
  figures.computeUtilization = evaluation.computeUtilization();
  return figures;
}

bool PairSummary::plannedIsOptimal() const {
  return provenOptimal &&
         planned.makespan <= bestMakespan + 1e-9 * std::max(1.0, bestMakespan);
}

int PairSummaries::knownIndex(int forwardStage, int backwardStage,
                              const PairProblem &problem) {
  // Schedules pair few distinct stages, so a linear scan is enough; the
  // stage pair is checked first to avoid comparing problems item by item.
  for (const auto &[fs, bs, index] : knownOfStages)
    if (fs == forwardStage && bs == backwardStage &&
        known[index].problem == problem)
      return index;
  int index = 0;
  for (int e = known.size(); index < e; ++index)
    if (known[index].problem == problem)
      break;
  if (index == static_cast<int>(known.size())) {
    Known entry{problem, planPair(problem, options), std::nullopt};
    if (std::optional<Order> deepseek = deepseekOrder(problem))
      if (EvaluateResult timed = evaluate(problem, *deepseek); timed.evaluation)
        entry.deepseek = OrderFigures::of(*timed.evaluation);
    known.push_back(std::move(entry));
  }
  knownOfStages.emplace_back(forwardStage, backwardStage, index);
  return index;
}

std::optional<OrderFigures>
PairSummaries::add(int forwardStage, int backwardStage,
                   const PairProblem &problem,
                   const std::optional<Order> &order, std::string &error) {
  if (std::optional<std::string> problemError = checkProblem(problem)) {
    error = *problemError;
    return std::nullopt;
  }
  int index = knownIndex(forwardStage, backwardStage, problem);
  const Order &runs = order ? *order : known[index].plan.order;
  auto key = std::pair{index, runs};
  auto it = std::find(rowKeys.begin(), rowKeys.end(), key);
  size_t row = it - rowKeys.begin();
  if (it == rowKeys.end()) {
    EvaluateResult timed = evaluate(problem, runs);
    if (!timed.evaluation) {
      error = timed.error;
      return std::nullopt;
    }
    const Known &entry = known[index];
    PairSummary summary;
    summary.forwardLayers = problem.forward.back().layer + 1;
    summary.backwardLayers = problem.backward.front().layer + 1;
    summary.items = problem.numItems();
    summary.planned = OrderFigures::of(*timed.evaluation);
    summary.lowerBound = entry.plan.lowerBound;
    summary.bestMakespan = entry.plan.evaluation.makespan;
    summary.provenOptimal = entry.plan.provenOptimal;
    summary.deepseek = entry.deepseek;
    rowKeys.push_back(std::move(key));
    rowFigures.push_back(summary.planned);
    summaries.push_back(std::move(summary));
  }
  PairSummary &summary = summaries[row];
  ++summary.actions;
  auto stages = std::pair{forwardStage, backwardStage};
  if (std::find(summary.stagePairs.begin(), summary.stagePairs.end(), stages) ==
      summary.stagePairs.end())
    summary.stagePairs.push_back(stages);
  return rowFigures[row];
}
