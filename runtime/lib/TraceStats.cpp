//===- TraceStats.cpp - Overlap of transfers and kernels in a trace -------===//

#include "TraceStats.h"

#include <algorithm>

namespace pwrt {

std::vector<Interval> unionOf(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<Interval> merged;
  for (const Interval &interval : intervals) {
    if (interval.second <= interval.first)
      continue;
    if (!merged.empty() && interval.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, interval.second);
    else
      merged.push_back(interval);
  }
  return merged;
}

int64_t intersectionLength(const std::vector<Interval> &a,
                           const std::vector<Interval> &b) {
  int64_t total = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    int64_t begin = std::max(a[i].first, b[j].first);
    int64_t end = std::min(a[i].second, b[j].second);
    if (end > begin)
      total += end - begin;
    // Drop whichever ends first; the other may meet the next one.
    if (a[i].second < b[j].second)
      ++i;
    else
      ++j;
  }
  return total;
}

OverlapSummary
transferOverlap(const std::vector<const std::vector<Slice> *> &streams) {
  std::vector<Interval> transfers, kernels;
  for (const std::vector<Slice> *slices : streams)
    for (const Slice &slice : *slices) {
      if (slice.kind == SliceKind::Kernel)
        kernels.emplace_back(slice.beginNs, slice.endNs);
      else if (slice.kind == SliceKind::Send || slice.kind == SliceKind::Recv)
        transfers.emplace_back(slice.beginNs, slice.endNs);
    }
  std::vector<Interval> transferUnion = unionOf(std::move(transfers));
  std::vector<Interval> kernelUnion = unionOf(std::move(kernels));
  OverlapSummary summary;
  for (const Interval &interval : transferUnion)
    summary.transferNs += interval.second - interval.first;
  for (const Interval &interval : kernelUnion)
    summary.kernelNs += interval.second - interval.first;
  summary.hiddenNs = intersectionLength(transferUnion, kernelUnion);
  return summary;
}

} // namespace pwrt
