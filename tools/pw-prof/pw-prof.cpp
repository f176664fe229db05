//===- pw-prof.cpp - Chrome trace profiler for pipeline training ----------===//
//
//   pw-prof trace.json                      (streams, overlap, attribution)
//   pw-prof trace.json --format=json -o report.json
//   pw-prof trace.json --svg=timeline.svg
//   pw-prof trace.json --emit-cost=-        (a pipe.cost line to paste)
//   pw-prof trace.json --pipeline --predicted=report.json
//                                           (per-rank bubble vs pwc's report)
//
//===----------------------------------------------------------------------===//

#include "Report.h"

#include "passes/Profile/Analysis.h"
#include "passes/Profile/Pipeline.h"
#include "passes/Profile/Trace.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <chrono>

using namespace pipeweave;
namespace cl = llvm::cl;

namespace {
enum class Format { Table, Json };

// Communication kernels by default: NCCL/RCCL collectives and p2p, NVSHMEM,
// all-to-all style names, DeepEP's dispatch/combine (deep_ep::, or
// dpsk::ep:: in DeepSeek's published profiles), peer-to-peer copies and
// the send/recv ops of pipeweave runtime streams.
constexpr const char *kDefaultCommunication =
    "nccl|rccl|nvshmem|all_?to_?all|all_?gather|reduce_?scatter|all_?reduce|"
    "sendrecv|deep_?ep::|::ep::|memcpy ptop|p2p|^i?send|^i?recv";
// Annotation names -> pipe.cost fields; DeepSeek's "attn(F)", "mlp(B)",
// "mlp(W)" and the usual forward/backward spellings.
constexpr const char *kDefaultForward = "\\(F\\)|forward|fwd";
constexpr const char *kDefaultBackwardInput =
    "\\([BI]\\)|backward_input|bwd_in|dgrad";
constexpr const char *kDefaultBackwardWeight =
    "\\(W\\)|backward_weight|bwd_w|wgrad";
constexpr const char *kDefaultBackward = "backward|bwd";

// cl::desc keeps a StringRef: help texts built at run time need storage.
const std::string communicationHelp =
    std::string("Names of communication ops: a POSIX extended regular "
                "expression, case-insensitive, matched anywhere in the name "
                "(default: ") +
    kDefaultCommunication + ")";
const std::string forwardHelp =
    std::string("Annotations that measure `forward` (regex; default: ") +
    kDefaultForward + ")";
const std::string backwardInputHelp =
    std::string("Annotations that measure `backward_input` (regex; "
                "default: ") +
    kDefaultBackwardInput + ")";
const std::string backwardWeightHelp =
    std::string("Annotations that measure `backward_weight` (regex; "
                "default: ") +
    kDefaultBackwardWeight + ")";
const std::string backwardHelp =
    std::string("Annotations that measure a full `backward` (regex; "
                "default: ") +
    kDefaultBackward +
    "). A name takes the first field that matches, in the order "
    "backward_weight, backward_input, backward, forward; an empty regex "
    "disables a field";

cl::OptionCategory category("pw-prof options");

cl::opt<std::string> inputFile(cl::Positional,
                               cl::desc("<trace.json> (- for stdin)"),
                               cl::cat(category));
cl::opt<Format> reportFormat(
    "format", cl::desc("Report format"), cl::init(Format::Table),
    cl::values(clEnumValN(Format::Table, "table", "readable tables (default)"),
               clEnumValN(Format::Json, "json",
                          "one JSON object; times are exact microseconds")),
    cl::cat(category));
cl::opt<std::string> outputFile("o",
                                cl::desc("Write the report to <file> "
                                         "(default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));
cl::opt<std::string>
    svgFile("svg",
            cl::desc("Also write a per-stream timeline as SVG to <file>"),
            cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> communicationPattern("comm-kernels",
                                          cl::desc(communicationHelp),
                                          cl::value_desc("regex"),
                                          cl::init(kDefaultCommunication),
                                          cl::cat(category));
cl::opt<profile::ClassifyBy> classifyBy(
    "classify", cl::desc("What overlap classifies as communication"),
    cl::init(profile::ClassifyBy::Stream),
    cl::values(
        clEnumValN(profile::ClassifyBy::Stream, "stream",
                   "whole streams: a stream is communication when "
                   "communication ops take most of its op time (default)"),
        clEnumValN(profile::ClassifyBy::Kernel, "kernel",
                   "each op by its own name")),
    cl::cat(category));
cl::opt<std::string> costOutput(
    "emit-cost",
    cl::desc("Write the calibrated pipe.cost line to <file>; with '-' it "
             "goes to stdout instead of the report (unless -o names a "
             "file)"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> costForward("cost-forward", cl::desc(forwardHelp),
                                 cl::value_desc("regex"),
                                 cl::init(kDefaultForward), cl::cat(category));
cl::opt<std::string> costBackwardInput("cost-backward-input",
                                       cl::desc(backwardInputHelp),
                                       cl::value_desc("regex"),
                                       cl::init(kDefaultBackwardInput),
                                       cl::cat(category));
cl::opt<std::string> costBackwardWeight("cost-backward-weight",
                                        cl::desc(backwardWeightHelp),
                                        cl::value_desc("regex"),
                                        cl::init(kDefaultBackwardWeight),
                                        cl::cat(category));
cl::opt<std::string> costBackward("cost-backward", cl::desc(backwardHelp),
                                  cl::value_desc("regex"),
                                  cl::init(kDefaultBackward),
                                  cl::cat(category));
cl::opt<prof::CostUnit> costUnit(
    "cost-unit", cl::desc("Time unit of the pipe.cost values"),
    cl::init(prof::CostUnit::Microseconds),
    cl::values(clEnumValN(prof::CostUnit::Microseconds, "us",
                          "microseconds, as in the trace (default)"),
               clEnumValN(prof::CostUnit::Milliseconds, "ms", "milliseconds"),
               clEnumValN(prof::CostUnit::Seconds, "s", "seconds")),
    cl::cat(category));
cl::opt<double> costScale(
    "cost-scale",
    cl::desc("Multiply the pipe.cost values, e.g. by the layers per stage "
             "when the annotations time one layer (default 1)"),
    cl::init(1.0), cl::cat(category));
cl::opt<bool> pipelineView(
    "pipeline",
    cl::desc("Report the pipeline view instead: per rank (pid) the step "
             "span, compute busy (union of kernel intervals), bubble and "
             "bubble%"),
    cl::cat(category));
cl::opt<std::string> predictedReport(
    "predicted",
    cl::desc("With the pipeline view (implies --pipeline): compare with the "
             "simulator's report for the same program, the JSON of `pwc "
             "SPEC --emit=report --format=json`"),
    cl::value_desc("report.json"), cl::cat(category));
cl::opt<bool> showTime("time",
                       cl::desc("Print read and analysis time and MB/s to "
                                "stderr"),
                       cl::cat(category));
} // namespace

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "pw-prof") << message << "\n";
  return 1;
}

/// Compiles a user pattern; an empty one matches nothing.
static std::optional<llvm::Regex> compile(const std::string &flag,
                                          const std::string &pattern,
                                          std::string &error) {
  llvm::Regex regex(pattern, llvm::Regex::IgnoreCase);
  std::string problem;
  if (!pattern.empty() && !regex.isValid(problem)) {
    error = "--" + flag + ": invalid regular expression '" + pattern +
            "': " + problem;
    return std::nullopt;
  }
  return regex;
}

static bool writeToFile(const std::string &path,
                        llvm::function_ref<void(llvm::raw_ostream &)> write,
                        std::string &error) {
  std::error_code code;
  llvm::ToolOutputFile out(path, code, llvm::sys::fs::OF_Text);
  if (code) {
    error = "cannot write '" + path + "': " + code.message();
    return false;
  }
  write(out.os());
  out.keep();
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "pw-prof: what a training trace says about streams, overlap and "
      "costs\n\n"
      "Reads a Chrome trace (PyTorch profiler, Kineto, pipeweave runtime; an\n"
      "object with traceEvents or a bare array) and reports:\n"
      "  streams      per GPU or runtime stream (pid, tid): ops, span, busy\n"
      "               time (the union of op intervals) and busy%\n"
      "  overlap      per device (pid): communication busy, compute busy,\n"
      "               both at once, and the share of communication hidden\n"
      "               under compute (see --comm-kernels, --classify)\n"
      "  attribution  GPU time per innermost user annotation on the thread\n"
      "               that launched each op (linked by correlation id), per\n"
      "               stream; unattributed ops in their own rows\n"
      "  calibration  mean compute time per annotation, summed into\n"
      "               pipe.cost fields (see --emit-cost)\n"
      "  pipeline     with --pipeline instead: per rank (pid; \"rank R\" in\n"
      "               pipeweave runtime traces) the step span (the step\n"
      "               slices, else first kernel start to last kernel end),\n"
      "               compute busy (union of kernel intervals), bubble =\n"
      "               span - busy and bubble%; with --predicted=report.json\n"
      "               (pwc SPEC --emit=report --format=json) also the\n"
      "               predicted bubble% per rank, measured - predicted, and\n"
      "               the measured us per model unit (longest span /\n"
      "               predicted makespan)\n\n"
      "Times are the trace's microseconds, exact (kept as integer ns).\n"
      "Malformed input is reported as <file>:<byte offset>: <problem>.\n\n"
      "  pw-prof train.json\n"
      "  pw-prof train.json --format=json -o report.json --svg=streams.svg\n"
      "  pw-prof train.json --emit-cost=- --cost-unit=ms --cost-scale=4\n"
      "  PW_TRACE=t.json mpirun -np 8 build/bin/mlp --schedule dualpipe\n"
      "  pwc mlp_dualpipe.mlir --emit=report --format=json > r.json\n"
      "  pw-prof t.json --pipeline --predicted=r.json\n");

  if (inputFile.empty())
    return fail("no input; give a Chrome trace JSON file (see pw-prof "
                "--help)");
  if (!(costScale > 0.0))
    return fail("--cost-scale must be positive");

  std::string error;
  std::optional<llvm::Regex> communication =
      compile("comm-kernels", communicationPattern, error);
  if (!communication)
    return fail(error);
  struct FieldPattern {
    profile::CostField field;
    const char *flag;
    const std::string &pattern;
  };
  // The order in which a name is tried against the fields.
  const FieldPattern fieldPatterns[] = {
      {profile::CostField::BackwardWeight, "cost-backward-weight",
       costBackwardWeight},
      {profile::CostField::BackwardInput, "cost-backward-input",
       costBackwardInput},
      {profile::CostField::Backward, "cost-backward", costBackward},
      {profile::CostField::Forward, "cost-forward", costForward},
  };
  std::vector<std::pair<profile::CostField, llvm::Regex>> fieldRegexes;
  for (const FieldPattern &field : fieldPatterns) {
    std::optional<llvm::Regex> regex =
        compile(field.flag, field.pattern, error);
    if (!regex)
      return fail(error);
    if (!field.pattern.empty())
      fieldRegexes.emplace_back(field.field, std::move(*regex));
  }

  auto started = std::chrono::steady_clock::now();
  profile::Trace trace;
  if (std::optional<profile::TraceError> problem =
          profile::parseTraceFile(inputFile, trace)) {
    if (problem->offset)
      return fail(inputFile + ":" + std::to_string(*problem->offset) + ": " +
                  problem->message);
    return fail(inputFile + ": " + problem->message);
  }
  auto parsed = std::chrono::steady_clock::now();

  profile::AnalysisOptions options;
  bool matchNothing = communicationPattern.empty();
  options.isCommunication = [&](std::string_view name) {
    return !matchNothing && communication->match(name);
  };
  options.classifyBy = classifyBy;
  options.costFieldOf =
      [&](std::string_view name) -> std::optional<profile::CostField> {
    for (auto &[field, regex] : fieldRegexes)
      if (regex.match(name))
        return field;
    return std::nullopt;
  };
  profile::Profile result = profile::analyseTrace(trace, options);
  auto analysed = std::chrono::steady_clock::now();

  if (showTime) {
    double readSeconds =
        std::chrono::duration<double>(parsed - started).count();
    double analysisSeconds =
        std::chrono::duration<double>(analysed - parsed).count();
    uint64_t bytes = 0;
    if (inputFile != "-")
      llvm::sys::fs::file_size(inputFile, bytes);
    llvm::errs() << llvm::format(
        "pw-prof: read %.1f MB in %.3f s (%.0f MB/s), analysed in %.3f s\n",
        bytes / 1e6, readSeconds,
        readSeconds > 0 ? bytes / 1e6 / readSeconds : 0.0, analysisSeconds);
  }

  // Read before any output is written, so that a bad report leaves none.
  bool pipeline = pipelineView || !predictedReport.empty();
  profile::PipelineView view;
  profile::PredictedReport predicted;
  profile::PipelineComparison comparison;
  if (pipeline) {
    view = profile::analysePipeline(trace);
    if (!predictedReport.empty()) {
      if (std::optional<std::string> problem =
              prof::readPredictedReport(predictedReport, predicted))
        return fail(*problem);
      if (std::optional<std::string> problem =
              profile::comparePipeline(view, predicted, comparison))
        return fail(predictedReport + " does not match " + inputFile + ": " +
                    *problem);
    }
  }

  prof::ReportInput input{trace,    result,   inputFile, communicationPattern,
                          costUnit, costScale};
  bool costToStdout = costOutput == "-";
  if (!costOutput.empty()) {
    std::string fragment;
    llvm::raw_string_ostream os(fragment);
    if (!prof::writeCostFragment(input, os))
      return fail("nothing to calibrate: no user annotation name matches "
                  "--cost-forward, --cost-backward-input, "
                  "--cost-backward-weight or --cost-backward");
    if (!writeToFile(
            costOutput, [&](llvm::raw_ostream &out) { out << fragment; },
            error))
      return fail(error);
  }
  if (!svgFile.empty() &&
      !writeToFile(
          svgFile, [&](llvm::raw_ostream &out) { prof::writeSvg(input, out); },
          error))
    return fail(error);
  if (costToStdout && outputFile == "-")
    return 0;
  if (!writeToFile(
          outputFile,
          [&](llvm::raw_ostream &out) {
            if (pipeline) {
              prof::PipelineInput pipelineInput{trace, view, inputFile};
              if (!predictedReport.empty()) {
                pipelineInput.predicted = &predicted;
                pipelineInput.comparison = &comparison;
                pipelineInput.predictedFile = predictedReport;
              }
              if (reportFormat == Format::Json)
                prof::writePipelineJson(pipelineInput, out);
              else
                prof::writePipelineTable(pipelineInput, out);
            } else if (reportFormat == Format::Json)
              prof::writeJson(input, out);
            else
              prof::writeTable(input, out);
          },
          error))
    return fail(error);
  return 0;
}
