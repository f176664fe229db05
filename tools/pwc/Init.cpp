//===- Init.cpp - `pwc init`: a starter spec ------------------------------===//

#include "Init.h"

#include "dialect/Pipe/FieldList.h"
#include "passes/Schedule/Schedule.h"

#include <cmath>
#include <sstream>

using pipeweave::pipe::formatFloat;
namespace schedule = pipeweave::schedule;

std::optional<std::string>
pipeweave::checkStarterSpecOptions(const StarterSpecOptions &o) {
  std::optional<schedule::ScheduleKind> kind =
      schedule::parseScheduleKind(o.schedule);
  if (!kind)
    return "unknown schedule '" + o.schedule +
           "'; expected one of: " + schedule::scheduleKindList();
  if (o.name.empty() || o.name.find_first_of(" \t\n\"@{}") != std::string::npos)
    return "--name must be a plain identifier (got '" + o.name + "')";
  if (o.ranks < 1)
    return "--ranks must be at least 1 (got " + std::to_string(o.ranks) + ")";
  if (o.microbatches < 1)
    return "--microbatches must be at least 1 (got " +
           std::to_string(o.microbatches) + ")";
  if (o.stagesPerRank < 0)
    return "--stages-per-rank must be positive (got " +
           std::to_string(o.stagesPerRank) + ")";
  auto nonNegative = [](const char *flag,
                        double v) -> std::optional<std::string> {
    if (std::isfinite(v) && v >= 0)
      return std::nullopt;
    return std::string(flag) + " must be a finite, non-negative number (got " +
           formatFloat(v) + ")";
  };
  for (auto [flag, value] :
       {std::pair{"--forward", o.forward},
        std::pair{"--backward-input", o.backwardInput},
        std::pair{"--backward-weight", o.backwardWeight},
        std::pair{"--overlapped", o.overlapped.value_or(0.0)},
        std::pair{"--p2p-latency", o.p2pLatency}})
    if (auto problem = nonNegative(flag, value))
      return problem;
  if (o.p2pBandwidth &&
      !(std::isfinite(*o.p2pBandwidth) && *o.p2pBandwidth > 0))
    return "--p2p-bandwidth must be positive bytes per time unit (got " +
           formatFloat(*o.p2pBandwidth) + ")";
  if (o.activationBytes < 0)
    return "--activation-bytes must be non-negative (got " +
           std::to_string(o.activationBytes) + ")";

  schedule::ScheduleParams params;
  params.kind = *kind;
  params.ranks = o.ranks;
  params.microbatches = o.microbatches;
  params.stagesPerRank = o.stagesPerRank;
  return schedule::checkScheduleParams(params);
}

std::string pipeweave::formatStarterSpec(const StarterSpecOptions &o) {
  double backward = o.backwardInput + o.backwardWeight;
  double overlapped = o.overlapped.value_or(o.forward + backward);
  std::ostringstream out;
  out << "// pipeweave spec: schedule " << o.schedule << " over " << o.ranks
      << " ranks, " << o.microbatches << " micro-batches.\n"
      << "// Compile it with: pwc THIS_FILE.mlir --emit=summary (or sched, "
         "torch-csv)\n"
      << "// Times are in one unit of your choice (say ms); bandwidth is "
         "bytes per that unit.\n"
      << "pipe.pipeline @" << o.name << " ranks = " << o.ranks
      << " microbatches = " << o.microbatches << " schedule = \"" << o.schedule
      << "\"";
  if (o.stagesPerRank > 0)
    out << " stages_per_rank = " << o.stagesPerRank;
  out << " {\n"
      << "  // forward (F), backward for input (I) and for weights (W); the\n"
      << "  // full backward B defaults to I + W. overlapped: one F and one B\n"
      << "  // run together (DualPipe); F + B means no overlap benefit.\n"
      << "  pipe.cost forward = " << formatFloat(o.forward)
      << ", backward_input = " << formatFloat(o.backwardInput)
      << ", backward_weight = " << formatFloat(o.backwardWeight)
      << ", overlapped = " << formatFloat(overlapped) << "\n"
      << "  // Point-to-point link between neighbouring ranks; without a\n"
      << "  // bandwidth, a transfer costs only its latency.\n"
      << "  pipe.p2p latency = " << formatFloat(o.p2pLatency);
  if (o.p2pBandwidth)
    out << ", bandwidth = " << formatFloat(*o.p2pBandwidth);
  out << "\n"
      << "  // Bytes of one activation message (0: unknown). gradient_bytes "
         "and\n"
      << "  // activation_memory default to the same value.\n"
      << "  pipe.tensor activation_bytes = " << o.activationBytes << "\n"
      << "  // Kernels the runtime lowering launches for each stage:\n"
      << "  // pipe.kernels forward = \"stage_fwd\", backward_input = "
         "\"stage_bwd_in\",\n"
      << "  //              backward_weight = \"stage_bwd_w\", loss = "
         "\"loss\"\n"
      << "  // Per-stage overrides, e.g. a heavier first (embedding) stage:\n"
      << "  // pipe.stage 0 {\n"
      << "  //   pipe.cost forward = " << formatFloat(o.forward * 1.5) << "\n"
      << "  // }\n"
      << "}\n";
  return out.str();
}
