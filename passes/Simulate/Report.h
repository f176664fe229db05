//===- Report.h - Simulation reports, pictures and comparisons --*- C++ -*-===//
//
// Formats a Simulation (Simulator.h) as a readable table, a JSON object, an
// SVG timeline and a Chrome trace, and several simulations side by side as a
// comparison table. Plain C++20, no MLIR; every function returns the whole
// text and never throws.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SIMULATE_REPORT_H
#define PIPEWEAVE_SIMULATE_REPORT_H

#include "passes/Simulate/Simulator.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pipeweave::simulate {

//===----------------------------------------------------------------------===//
// Numbers and names
//===----------------------------------------------------------------------===//

/// The shortest decimal text that reads back as exactly `value` ("59",
/// "3.5", "0.1", "1e+21"); "null" for NaN and infinities (JSON has none).
std::string formatJsonNumber(double value);

/// A number for people: at most four decimals, trailing zeros dropped
/// ("59", "3.5", "0.3333").
std::string formatReadableNumber(double value);

/// "F", "I", "W", "B", "F&B" for compute kinds; "SEND" / "RECV" for comm.
std::string_view kindLabel(schedule::ActionKind kind);

//===----------------------------------------------------------------------===//
// Report: table and JSON
//===----------------------------------------------------------------------===//

/// A readable report: a header with the schedule's shape, makespan and total
/// bubble; one table row per rank (stages, actions, busy, bubble, bubble %,
/// peak activations and bytes); the critical path as runs of consecutive
/// steps on one rank; when overlapped pairs run component plans, one row per
/// distinct pair: makespan, lower bound, whether optimal, compute busy,
/// communication hidden, and DeepSeek's order's makespan and hidden under
/// the same costs. Lines end in '\n'.
std::string formatReportTable(const Simulation &simulation);

/// The report as one JSON object, keys in this fixed order:
///
///   name, schedule (the kind), num_ranks, num_stages, num_microbatches,
///   num_directions, makespan, busy, bubble, bubble_ratio (whole schedule:
///   bubble / (num_ranks * makespan)), peak_activations,
///   peak_activation_bytes (largest over ranks), peak_activations_model_units
///   (Simulation::peakActivationsInModelUnits), parameter_copies,
///   transfers (count), transfer_bytes (sum),
///   ranks: [{rank, stages: [..], actions, busy, bubble, bubble_ratio,
///            peak_activations, peak_activation_bytes}, ...],
///   critical_path: {rank_crossings, steps: [{rank, index, action (PyTorch
///            text, e.g. "0F3" or "(0F7;15B3)OVERLAP_F_B"), kind (kindLabel),
///            stage, microbatch, [stage2, microbatch2 for F&B: the backward
///            part], start, end, cause ("start", "rank" or "transfer")}, ...]}
///
///   and, only when some overlapped pair runs a component plan (issue 8),
///   overlap_pairs: [{stage_pairs: [[forward stage, backward stage], ...],
///            actions, forward_layers, backward_layers, items, makespan,
///            compute_busy, compute_utilization, comm_busy, comm_hidden,
///            hidden_fraction, lower_bound, best_makespan, proven_optimal,
///            optimal (the plan is a proven optimum), deepseek: {makespan,
///            compute_busy, compute_utilization, comm_busy, comm_hidden,
///            hidden_fraction} of DeepSeek's order under the same costs, or
///            null when the layers do not have its shape}, ...] -- one entry
///            per distinct pair and order (overlap::PairSummary).
///
/// Times are in the cost model's unit, numbers as formatJsonNumber writes
/// them. Ends in '\n'.
std::string formatReportJson(const Simulation &simulation);

//===----------------------------------------------------------------------===//
// Pictures
//===----------------------------------------------------------------------===//

struct SvgOptions {
  /// Horizontal scale; 0 picks one that makes the time axis about 1600 px
  /// wide, kept between 2 and 48 px per unit.
  double pixelsPerUnit = 0.0;
  int rowHeight = 34; // pixels per rank row
  /// Draws a red bar under every action on the critical path.
  bool markCriticalPath = true;
  /// Heading; empty means "<kind> @<name>: R ranks, N micro-batches,
  /// makespan M, bubble X%".
  std::string title;
};

/// A standalone SVG timeline in the style of DualPipe's README figures: one
/// row per rank, time to the right (axis in the cost model's unit), one cell
/// per action coloured by kind -- F orange, B green, I blue, W purple -- with
/// its micro-batch number inside when it fits. An overlapped pair is one
/// cell with a heavy outline, its forward half on top and its backward half
/// below, each in its own colour and number. For two-direction schedules
/// (DualPipe), direction 1 uses dark shades with white numbers, direction 0
/// light ones; single-direction schedules with several stages per rank (the
/// V shapes, interleaved) shade a rank's first stage light, its second dark,
/// alternating. Idle time shows as the grey row background; each row ends
/// with the rank's bubble; a legend and a line on the shading sit below.
/// Every cell has a <title> tooltip ("rank 0: 0F3, 3 - 4").
std::string formatSvgTimeline(const Simulation &simulation,
                              const SvgOptions &options = {});

struct ChromeTraceOptions {
  /// Trace microseconds per cost-model time unit (1 unit = 1 ms by default,
  /// so Perfetto's ms readout shows the cost model's numbers).
  double microsecondsPerUnit = 1000.0;
};

/// A Chrome trace ({"traceEvents": [...], "displayTimeUnit": "ms"}) for
/// Perfetto and chrome://tracing. pid = rank (named "rank R", sorted by
/// rank); tid 0 "compute" holds one complete ("X") event per action, named
/// by its PyTorch text, args {stage, mb, kind, index, critical} (plus stage2,
/// mb2 for an overlapped pair); tid 1 "comm" holds each transfer on the
/// sending rank, from the producer's end to the arrival, named e.g.
/// "activation s0 mb3 -> rank 1", args {stage, mb, kind ("activation" or
/// "gradient"), to, bytes}. Transfers that overlap in time on one rank go
/// to further lanes (tid 2 "comm 2", ...) so that slices on a thread never
/// partially overlap, which both viewers need.
std::string formatChromeTrace(const Simulation &simulation,
                              const ChromeTraceOptions &options = {});

//===----------------------------------------------------------------------===//
// Comparison of several schedules
//===----------------------------------------------------------------------===//

/// The figures `pwc compare` sets side by side, without the timelines.
struct ComparisonRow {
  std::string label; // how the row is named, e.g. the kind or a file name
  std::string kind;
  int ranks = 0; // ranks the schedule needs
  int microbatches = 0;
  double makespan = 0.0;
  double bubbleRatio = 0.0; // Simulation::bubbleRatio
  int peakActivations = 0;  // largest per-rank count of stage activations
  double peakActivationsModelUnits = 0.0;
  int64_t peakActivationBytes = 0;
  double parameterCopies = 0.0; // Simulation::parameterCopies
  int criticalPathCrossings = 0;
};

/// The row for one simulation; an empty label takes the schedule's kind.
ComparisonRow summarize(const Simulation &simulation, std::string label = "");

/// One line per row under a header: schedule, ranks, micro-batches,
/// makespan, bubble (%), peak activations (count, in model units, bytes),
/// parameter copies; then a line explaining the units. Lines end in '\n'.
std::string formatComparisonTable(const std::vector<ComparisonRow> &rows);

/// {"schedules": [{label, schedule, ranks, microbatches, makespan,
/// bubble_ratio, peak_activations, peak_activations_model_units,
/// peak_activation_bytes, parameter_copies, critical_path_crossings}, ...]}
/// with '\n' at the end.
std::string formatComparisonJson(const std::vector<ComparisonRow> &rows);

} // namespace pipeweave::simulate

#endif // PIPEWEAVE_SIMULATE_REPORT_H
