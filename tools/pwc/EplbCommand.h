//===- EplbCommand.h - `pwc eplb`: expert-parallel load balancing -*- C++ -*-=//
//
//   pwc eplb --input CASE.json [--policy P] [--format json|table]
//            [--previous PLACEMENT.json]
//
// CASE is the reference's arguments as JSON: {"weight": [[...], ...],
// "num_replicas": R, "num_groups": G, "num_nodes": N, "num_gpus": P}.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_TOOLS_PWC_EPLBCOMMAND_H
#define PIPEWEAVE_TOOLS_PWC_EPLBCOMMAND_H

#include "llvm/Support/CommandLine.h"

/// Whether the command line selected `pwc eplb`.
bool eplbCommandSelected();

/// Runs `pwc eplb`; returns the process exit code.
int runEplbCommand();

/// The category of `pwc eplb`'s options, for cl::HideUnrelatedOptions.
llvm::cl::OptionCategory &eplbOptionCategory();

#endif // PIPEWEAVE_TOOLS_PWC_EPLBCOMMAND_H
