//===- TraceStats.h - Overlap of transfers and kernels in a trace -*- C++
//-*-===//
//
// How much of a rank's transfer time ran while one of its kernels ran: the
// union of its transfer slices, and the part of that union that the union
// of its kernel slices covers. The CUDA backend prints it for the whole job
// when it writes a trace (the slices come from CUDA event timestamps).
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_TRACESTATS_H
#define PWRT_LIB_TRACESTATS_H

#include "Trace.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace pwrt {

struct OverlapSummary {
  int64_t transferNs = 0; // union of transfer slices
  int64_t hiddenNs = 0;   // of which under a kernel slice
  int64_t kernelNs = 0;   // union of kernel slices

  /// hidden / transfer; 0 without transfers.
  double hiddenFraction() const {
    return transferNs > 0 ? double(hiddenNs) / double(transferNs) : 0.0;
  }
  OverlapSummary &operator+=(const OverlapSummary &other) {
    transferNs += other.transferNs;
    hiddenNs += other.hiddenNs;
    kernelNs += other.kernelNs;
    return *this;
  }
};

using Interval = std::pair<int64_t, int64_t>; // [begin, end)

/// Sorted, disjoint, non-empty intervals covering the same points.
std::vector<Interval> unionOf(std::vector<Interval> intervals);
/// Total length of the points in both (each sorted and disjoint).
int64_t intersectionLength(const std::vector<Interval> &a,
                           const std::vector<Interval> &b);

/// One rank's overlap over the slices of all its streams.
OverlapSummary
transferOverlap(const std::vector<const std::vector<Slice> *> &streams);

} // namespace pwrt

#endif // PWRT_LIB_TRACESTATS_H
