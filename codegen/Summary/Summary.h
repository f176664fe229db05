//===- Summary.h - human-readable schedule summary --------------*- C++ -*-===//

#ifndef PIPEWEAVE_CODEGEN_SUMMARY_SUMMARY_H
#define PIPEWEAVE_CODEGEN_SUMMARY_SUMMARY_H

#include "passes/Schedule/Schedule.h"

#include <string>

namespace pipeweave {

/// A few lines a person reads: the shape, per-rank action and message
/// counts, and each rank's compute order (wrapped at `width` columns).
std::string formatSummary(const schedule::Schedule &schedule, int width = 100);

} // namespace pipeweave

#endif // PIPEWEAVE_CODEGEN_SUMMARY_SUMMARY_H
