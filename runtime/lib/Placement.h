//===- Placement.h - Which GPU a CUDA rank uses, and how ranks talk -*- C++
//-*-//
//
// One process per rank: rank r takes device (its rank among the processes
// of its node) % (devices it sees). NCCL refuses two ranks of one
// communicator on one GPU, so before creating the communicator the ranks
// share their placements and choose the transport: NCCL when every rank
// has a GPU of its own, else (all ranks in one process) the local
// transport, which copies between ranks directly; with one process per
// rank a shared GPU is an error that says what to do instead.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_PLACEMENT_H
#define PWRT_LIB_PLACEMENT_H

#include "Error.h"
#include "Selection.h"

#include <optional>
#include <string>
#include <vector>

namespace pwrt {

struct RankPlacement {
  std::string host;     // host name
  std::string deviceId; // the GPU's PCI bus id, unique on its host
  int device = -1;      // CUDA ordinal in its process
};

std::string encodePlacement(const RankPlacement &placement);
std::optional<RankPlacement> decodePlacement(const std::string &text);

/// The device of the `localRank`-th rank of a node that sees
/// `deviceCount` (> 0) devices.
int deviceForLocalRank(int localRank, int deviceCount);

/// One message for the ranks that cannot start, ordered by first rank,
/// ranks with the same problem together: "every rank: <problem>" or
/// "rank 1: <a>; ranks 2, 5: <b>". problems[r] is empty for a rank that is
/// fine.
std::string summarizeRankProblems(const std::vector<std::string> &problems);

struct TransportPlan {
  bool nccl = true; // else the local transport
  std::string note; // why the local transport, for traces and tests
  Error error;      // the job cannot run this way
};

/// Chooses how the ranks (placements[r] of rank r) exchange messages.
TransportPlan planTransport(const std::vector<RankPlacement> &placements,
                            bool singleProcess, TransportChoice choice);

} // namespace pwrt

#endif // PWRT_LIB_PLACEMENT_H
