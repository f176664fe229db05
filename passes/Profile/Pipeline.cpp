//===- Pipeline.cpp - Per-rank bubble, measured and predicted -------------===//

#include "passes/Profile/Pipeline.h"

#include "passes/Profile/Analysis.h"

#include <algorithm>
#include <charconv>
#include <climits>

namespace pipeweave::profile {

/// R of "rank R", or the pid when it is an integer.
static std::optional<int64_t> rankNumber(const Process &process) {
  auto integer = [](std::string_view text) -> std::optional<int64_t> {
    int64_t value = 0;
    auto [end, error] =
        std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() ||
        end != text.data() + text.size())
      return std::nullopt;
    return value;
  };
  std::string_view name = process.name;
  if (name.substr(0, 5) == "rank ")
    if (std::optional<int64_t> rank = integer(name.substr(5)))
      return rank;
  if (process.pid.isNumber)
    return integer(process.pid.text);
  return std::nullopt;
}

Nanoseconds PipelineView::maxSpan() const {
  Nanoseconds longest = 0;
  for (const RankPipeline &rank : ranks)
    longest = std::max(longest, rank.span());
  return longest;
}

PipelineView analysePipeline(const Trace &trace) {
  struct Collect {
    std::vector<Interval> kernels;
    Nanoseconds stepStart = INT64_MAX, stepEnd = INT64_MIN;
    Nanoseconds kernelStart = INT64_MAX, kernelEnd = INT64_MIN;
    int64_t steps = 0;
  };
  std::vector<Collect> perProcess(trace.processes.size());
  for (const CompleteEvent &event : trace.events) {
    if (event.kind != EventKind::Kernel && event.kind != EventKind::Step)
      continue;
    Collect &c = perProcess[trace.tracks[event.track].process];
    if (event.kind == EventKind::Step) {
      ++c.steps;
      c.stepStart = std::min(c.stepStart, event.start);
      c.stepEnd = std::max(c.stepEnd, event.end());
    } else {
      c.kernels.push_back({event.start, event.end()});
      c.kernelStart = std::min(c.kernelStart, event.start);
      c.kernelEnd = std::max(c.kernelEnd, event.end());
    }
  }

  PipelineView view;
  for (uint32_t p = 0; p < perProcess.size(); ++p) {
    Collect &c = perProcess[p];
    if (c.steps == 0 && c.kernels.empty())
      continue;
    RankPipeline rank;
    rank.process = p;
    rank.rank = rankNumber(trace.processes[p]);
    rank.kernels = static_cast<int64_t>(c.kernels.size());
    rank.steps = c.steps;
    rank.spanFromSteps = c.steps > 0;
    rank.start = rank.spanFromSteps ? c.stepStart : c.kernelStart;
    rank.end = rank.spanFromSteps ? c.stepEnd : c.kernelEnd;
    // Clipped so that bubble = span - busy never goes negative when
    // kernels run outside the step slices.
    std::vector<Interval> busy = intersectionOf(
        unionOf(std::move(c.kernels)), {Interval{rank.start, rank.end}});
    rank.busy = totalLength(busy);
    view.ranks.push_back(rank);
  }
  std::stable_sort(view.ranks.begin(), view.ranks.end(),
                   [&](const RankPipeline &a, const RankPipeline &b) {
                     return lessTraceId(trace.processes[a.process].pid,
                                        trace.processes[b.process].pid);
                   });
  return view;
}

static std::string ranks(size_t count) {
  return std::to_string(count) + (count == 1 ? " rank" : " ranks");
}

std::optional<std::string> comparePipeline(const PipelineView &view,
                                           const PredictedReport &report,
                                           PipelineComparison &comparison) {
  if (view.ranks.size() != report.ranks.size())
    return "the report has " + ranks(report.ranks.size()) +
           " but the trace has " + std::to_string(view.ranks.size()) +
           " (processes with kernels or step slices)";
  comparison = PipelineComparison();
  std::vector<bool> taken(report.ranks.size(), false);
  for (size_t m = 0; m < view.ranks.size(); ++m) {
    const RankPipeline &rank = view.ranks[m];
    if (!rank.rank)
      return "trace process " + std::to_string(rank.process) +
             " has no rank number (neither \"rank R\" nor an integer pid)";
    auto partner = std::find_if(report.ranks.begin(), report.ranks.end(),
                                [&](const PredictedRank &predicted) {
                                  return predicted.rank == *rank.rank;
                                });
    if (partner == report.ranks.end())
      return "rank " + std::to_string(*rank.rank) +
             " of the trace is not in the report";
    RankComparison row;
    row.measured = m;
    row.predicted = static_cast<size_t>(partner - report.ranks.begin());
    if (taken[row.predicted])
      return "rank " + std::to_string(*rank.rank) +
             " appears twice in the trace";
    taken[row.predicted] = true;
    row.measuredRatio = rank.bubbleRatio();
    row.predictedRatio = partner->bubbleRatio;
    comparison.ranks.push_back(row);
  }
  comparison.predictedMakespan = report.makespan;
  comparison.measuredSpan = view.maxSpan();
  if (report.makespan > 0)
    comparison.microsecondsPerUnit =
        static_cast<double>(comparison.measuredSpan) / 1000.0 / report.makespan;
  return std::nullopt;
}

} // namespace pipeweave::profile
