//===- Init.h - `pwc init`: a starter spec ----------------------*- C++ -*-===//

#ifndef PIPEWEAVE_TOOLS_PWC_INIT_H
#define PIPEWEAVE_TOOLS_PWC_INIT_H

#include <cstdint>
#include <optional>
#include <string>

namespace pipeweave {

struct StarterSpecOptions {
  std::string name = "train";
  std::string schedule;
  int ranks = 0;
  int microbatches = 0;
  int stagesPerRank = 0; // 0: the schedule's default
  double forward = 1.0;
  double backwardInput = 1.0;
  double backwardWeight = 1.0;
  std::optional<double> overlapped; // default: F + I + W
  double p2pLatency = 0.0;
  std::optional<double> p2pBandwidth; // default: latency-only transfers
  int64_t activationBytes = 0;
};

/// Checks the options (names the first bad one) or returns std::nullopt.
std::optional<std::string> checkStarterSpecOptions(const StarterSpecOptions &);

/// The commented spec text `pwc init` prints. Precondition: the options
/// pass checkStarterSpecOptions().
std::string formatStarterSpec(const StarterSpecOptions &options);

} // namespace pipeweave

#endif // PIPEWEAVE_TOOLS_PWC_INIT_H
