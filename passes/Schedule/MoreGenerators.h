//===- MoreGenerators.h - Interleaved and zero-bubble schedules -*- C++ -*-===//
//
// Generators for the multi-stage and split-backward schedule kinds. Each one
// reproduces the per-rank compute order of a public reference exactly (the
// idle slots the references pad with are dropped); the .cpp files name the
// reference function they follow. All return compute-only schedules with
// numDirections = 1, stages forming one chain 0..numStages-1, and an empty
// name.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_MOREGENERATORS_H
#define PIPEWEAVE_SCHEDULE_MOREGENERATORS_H

#include "passes/Schedule/Schedule.h"

namespace pipeweave::schedule {

/// Interleaved 1F1B (Megatron-LM's virtual pipeline; PyTorch's
/// ScheduleInterleaved1F1B), kind "interleaved-1f1b": rank r runs stages
/// r, r+R, ..., r+(V-1)R with full backward B, depth first.
///
/// Preconditions: ranks >= 1, stagesPerRank >= 2, microbatches >= 1, and
/// microbatches % max(1, microbatches / ranks) == 0. The last rule is
/// PyTorch's (since its flexible-interleaving rework): it accepts every
/// N % R == 0 (Megatron's rule, and PyTorch's before that rework) plus, e.g.,
/// any N < R, N = 10 for R = 4, but not N = 9 for R = 4.
Schedule generateInterleaved1F1B(int ranks, int stagesPerRank,
                                 int microbatches);

/// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", handcrafted
/// schedule), kind "zb-h1": stage r on rank r, backward split into I and W;
/// 1F1B's order of F and I, with rank r holding back its first r W passes to
/// fill the cool-down bubble. Same peak of forwards awaiting their I as 1F1B.
///
/// Preconditions: ranks >= 1, microbatches >= ranks (the reference's
/// domain). For 1 <= microbatches < ranks the result is still valid and
/// follows PyTorch's one-stage zero-bubble rule (warm-up capped at N).
Schedule generateZeroBubbleH1(int ranks, int microbatches);

/// ZB-V (PyTorch's ScheduleZBVZeroBubble), kind "zb-v": 2R stages in one
/// chain laid out in a V, rank r running stages r and 2R-1-r, backward split
/// into I and W.
///
/// Preconditions: ranks >= 1, microbatches >= 1 (PyTorch accepts any count;
/// below 2R-1 it builds the 2R-1 order and drops the missing micro-batches).
Schedule generateZeroBubbleV(int ranks, int microbatches);

} // namespace pipeweave::schedule

#endif // PIPEWEAVE_SCHEDULE_MOREGENERATORS_H
