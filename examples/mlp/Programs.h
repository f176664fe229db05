//===- Programs.h - the schedules pwc compiled for the MLP ------*- C++ -*-===//
//
// Each program is a training step that pwc compiled ahead of time from a
// spec next to this file (mlp_<schedule>.mlir), with the model shape it was
// compiled for. Shared by the CPU example (mlp.cpp) and the GPU one
// (gpu/mlp-gpu.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MLP_PROGRAMS_H
#define PIPEWEAVE_EXAMPLES_MLP_PROGRAMS_H

#include "mlp_1f1b.h"
#include "mlp_dualpipe.h"
#include "mlp_dualpipev.h"
#include "mlp_zbh1.h"

#include <cstring>

namespace mlp {

struct Program {
  const char *schedule;
  pwrt_status (*step)(pwrt_context *);
  int32_t (*numRanks)();
  int blocks;       // model depth: stages per direction
  int directions;   // 2 for DualPipe
  int microbatches; // in total
};

inline const Program kPrograms[] = {
    {"dualpipe", mlp_dualpipe_step, mlp_dualpipe_num_ranks, 8, 2, 20},
    {"dualpipev", mlp_dualpipev_step, mlp_dualpipev_num_ranks, 16, 1, 16},
    {"1f1b", mlp_1f1b_step, mlp_1f1b_num_ranks, 8, 1, 16},
    {"zb-h1", mlp_zbh1_step, mlp_zbh1_num_ranks, 8, 1, 16},
};

/// The program compiled for `schedule`, or null.
inline const Program *findProgram(const char *schedule) {
  for (const Program &program : kPrograms)
    if (!std::strcmp(program.schedule, schedule))
      return &program;
  return nullptr;
}

} // namespace mlp

#endif // PIPEWEAVE_EXAMPLES_MLP_PROGRAMS_H
