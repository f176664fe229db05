//===- DualPipe.h - DeepSeek's DualPipe and DualPipeV schedules -*- C++ -*-===//
//
// Generators that reproduce, action for action, the compute order of
// DeepSeek's reference DualPipe and DualPipeV (github.com/deepseek-ai/DualPipe,
// dualpipe/dualpipe.py and dualpipe/dualpipev.py, `step()`).
//
// Placement. Rank r of R holds two stages, r and 2R-1-r.
//  - DualPipe (R even, N even, N >= 2R): two directions of R stages each.
//    Direction 0 is stages 0..R-1 on ranks 0..R-1; direction 1 is stages
//    R..2R-1, stage R+k on rank R-1-k. Each direction carries N/2
//    micro-batches, numbered 0..N/2-1.
//  - DualPipeV (R >= 1, N >= 2R): one chain 0..2R-1 folded into a V; all N
//    micro-batches enter at rank 0 and their loss is on rank 0.
//
// Phases. Each rank calls its two stages phase 0 and phase 1: phase 0 is the
// stage whose micro-batches reach the rank first (stage r, except on the
// second half of DualPipe's ranks, where it is the direction-1 stage). Within
// a phase, forwards and backwards each take micro-batches in ascending order.
//
// Steps. With span S (R/2 for DualPipe, R for DualPipeV), the rank's
// position p in its half (min(r, R-1-r) for DualPipe, r for DualPipeV),
// k = S-p-1 and C micro-batches per phase (N/2, or N):
//   1. 2k forwards of phase 0 (warm-up).
//   2. p+1 times: forward phase 0, forward phase 1.
//   3. k times: zero-bubble backward of phase 1 (I), its W at once, forward
//      of phase 1.
//   4. C-2S+p+1 times (main step): overlapped (forward 0; backward 1), then
//      overlapped (forward 1; backward 0). The turn rank (DualPipe's two
//      middle ranks, DualPipeV's last rank) runs its first (forward 0;
//      backward 1) pair one after the other instead of overlapped.
//   5. k times: backward of phase 1, then overlapped (forward 1; backward 0).
//   6. p+1 times: backward phase 1, backward phase 0; the first p+1 of these
//      2(p+1) backwards are full B, the last p+1 are split into I now and W
//      later.
//   7. k times: the oldest pending W, then a split backward (I) of phase 0.
//   8. p+1 times: the oldest pending W.
// Pending W chunks form a FIFO queue, as in the reference's WeightGradStore.
// Overlapped pairs always use a full backward (B).
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_DUALPIPE_H
#define PIPEWEAVE_SCHEDULE_DUALPIPE_H

#include "passes/Schedule/Schedule.h"

namespace pipeweave::schedule {

/// DualPipe over `ranks` ranks and `microbatches` micro-batches in total
/// (half per direction). Preconditions, as the reference asserts: `ranks` is
/// even and >= 2, `microbatches` is even and >= 2 * ranks.
Schedule generateDualPipe(int ranks, int microbatches);

/// DualPipeV over `ranks` ranks (2 * ranks stages in one chain).
/// Preconditions, as the reference asserts: `ranks` >= 1 and `microbatches`
/// >= 2 * ranks.
Schedule generateDualPipeV(int ranks, int microbatches);

} // namespace pipeweave::schedule

#endif // PIPEWEAVE_SCHEDULE_DUALPIPE_H
