//===- Report.h - pw-prof output formats ------------------------*- C++ -*-===//
//
// The readable table, the JSON report, the per-stream SVG timeline and the
// pipe.cost fragment, all written from one analysed trace; and the pipeline
// view (per-rank bubble, optionally against the simulator's prediction).
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_TOOLS_PWPROF_REPORT_H
#define PIPEWEAVE_TOOLS_PWPROF_REPORT_H

#include "passes/Profile/Analysis.h"
#include "passes/Profile/Pipeline.h"

#include "llvm/Support/raw_ostream.h"

#include <string>

namespace pipeweave::prof {

/// Time unit of the calibrated costs.
enum class CostUnit { Microseconds, Milliseconds, Seconds };

struct ReportInput {
  const profile::Trace &trace;
  const profile::Profile &profile;
  std::string file;                 // as given on the command line
  std::string communicationPattern; // for the record in the reports
  CostUnit costUnit = CostUnit::Microseconds;
  double costScale = 1.0;
};

void writeTable(const ReportInput &input, llvm::raw_ostream &os);
void writeJson(const ReportInput &input, llvm::raw_ostream &os);
void writeSvg(const ReportInput &input, llvm::raw_ostream &os);
/// The pipe.cost line with a comment naming what each field sums; false
/// when no annotation measured any field.
bool writeCostFragment(const ReportInput &input, llvm::raw_ostream &os);

struct PipelineInput {
  const profile::Trace &trace;
  const profile::PipelineView &view;
  std::string file;
  /// With --predicted: the report, its file and the pairing of ranks.
  const profile::PredictedReport *predicted = nullptr;
  const profile::PipelineComparison *comparison = nullptr;
  std::string predictedFile;
};

void writePipelineTable(const PipelineInput &input, llvm::raw_ostream &os);
void writePipelineJson(const PipelineInput &input, llvm::raw_ostream &os);

/// Reads the JSON of `pwc SPEC --emit=report --format=json`. On failure
/// returns "<file>:<byte offset>: <problem>" for malformed JSON and
/// "<file>: <problem>" for a missing or mistyped field.
std::optional<std::string>
readPredictedReport(const std::string &file, profile::PredictedReport &report);

} // namespace pipeweave::prof

#endif // PIPEWEAVE_TOOLS_PWPROF_REPORT_H
