//===- pwc.cpp - the pipeweave compiler driver ----------------------------===//
//
//   pwc init --schedule 1f1b --ranks 4 --microbatches 8 > spec.mlir
//   pwc spec.mlir --emit=summary|sched|torch-csv [-o FILE]
//   pwc order.csv --emit=...        (import a PyTorch schedule CSV, check it)
//   pwc --demo                       (compile the built-in example)
//
//===----------------------------------------------------------------------===//

#include "EplbCommand.h"
#include "Init.h"
#include "codegen/Native/Native.h"
#include "codegen/Summary/Summary.h"
#include "codegen/TorchCsv/TorchCsvTranslation.h"
#include "passes/Simulate/Report.h"
#include "passes/Simulate/Simulator.h"
#include "passes/Transforms/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace mlir;
namespace cl = llvm::cl;

#include "DemoSpec.inc"

namespace {
enum class Emit {
  Summary,
  Sched,
  TorchCsv,
  Report,
  Svg,
  ChromeTrace,
  Runtime,
  Cpp,
  LLVM,
  Obj,
  Lib
};
enum class Format { Table, Json };
enum class Codegen { Auto, Calls, Table };

cl::OptionCategory compileCategory("Compile options");
cl::OptionCategory initCategory("pwc init options");

cl::SubCommand
    initCommand("init",
                "Print a valid starter spec for a schedule and cost model");
cl::SubCommand compareCommand(
    "compare", "Simulate one spec under several schedules and compare them");
cl::OptionCategory compareCategory("pwc compare options");

// Compile (top-level) options.
cl::opt<std::string> inputFile(
    cl::Positional,
    cl::desc("<spec.mlir | schedule.csv> (- for stdin; .csv is read as "
             "PyTorch pipelining CSV)"),
    cl::cat(compileCategory));
cl::opt<Emit> emitKind(
    "emit", cl::desc("What to write"), cl::init(Emit::Sched),
    cl::values(
        clEnumValN(Emit::Sched, "sched",
                   "the checked sched IR, with send/recv (default)"),
        clEnumValN(Emit::TorchCsv, "torch-csv",
                   "PyTorch pipelining CSV, compute actions only"),
        clEnumValN(Emit::Summary, "summary",
                   "a readable summary: shape, per-rank counts, order"),
        clEnumValN(Emit::Report, "report",
                   "simulated step: makespan, per-rank busy, bubble, peak "
                   "activations, critical path (--format=table|json)"),
        clEnumValN(Emit::Svg, "svg",
                   "the simulated timeline as an SVG picture"),
        clEnumValN(Emit::ChromeTrace, "chrome-trace",
                   "the simulated timeline as Chrome trace JSON (Perfetto, "
                   "chrome://tracing): pid = rank, tid = compute/comm"),
        clEnumValN(Emit::Runtime, "runtime",
                   "the runtime-level IR (pwrt): streams, events, transfer "
                   "groups, kernel launches, buffer slots"),
        clEnumValN(Emit::Cpp, "cpp",
                   "C++ source (through EmitC) calling the runtime"),
        clEnumValN(Emit::LLVM, "llvm", "LLVM IR of the same code"),
        clEnumValN(Emit::Obj, "obj", "an object file for this machine"),
        clEnumValN(Emit::Lib, "lib",
                   "a static library and header: -o NAME writes NAME.h and "
                   "libNAME.a exporting NAME_step(ctx)")),
    cl::cat(compileCategory));
cl::opt<std::string> outputFile(
    "o",
    cl::desc("Output file (default: stdout). Without --emit, the extension "
             "picks the output: .mlir sched, .csv torch-csv, .cpp cpp, .ll "
             "llvm, .o obj, none: a library (NAME.h + libNAME.a)"),
    cl::value_desc("file"), cl::init("-"), cl::cat(compileCategory));
cl::opt<Format> reportFormat(
    "format", cl::desc("Format of --emit=report and of pwc compare"),
    cl::init(Format::Table),
    cl::values(clEnumValN(Format::Table, "table", "a readable table"),
               clEnumValN(Format::Json, "json", "one JSON object")),
    cl::sub(cl::SubCommand::getTopLevel()), cl::sub(compareCommand),
    cl::cat(compileCategory));
const std::string autoCodegenHelp =
    "calls, unless the program makes more than " +
    std::to_string(pipeweave::RuntimeToEmitCOptions().tableThreshold) +
    " runtime calls in all: then table (default)";
cl::opt<Codegen> codegenForm(
    "codegen",
    cl::desc("How generated code (cpp, llvm, obj, lib) issues each rank's "
             "runtime calls"),
    cl::init(Codegen::Auto),
    cl::values(clEnumValN(Codegen::Auto, "auto", autoCodegenHelp),
               clEnumValN(Codegen::Calls, "calls",
                          "one readable pwrt_cg_* call per line, a comment per "
                          "kernel launch"),
               clEnumValN(Codegen::Table, "table",
                          "a constant table of records per rank, issued by one "
                          "pwrt_cg_run call: compact, and fast to generate and "
                          "compile for large programs")),
    cl::cat(compileCategory));
cl::opt<bool>
    timing("timing",
           cl::desc("Print the wall time of each compile phase (parse, passes, "
                    "lowering, translation, output) to stderr"),
           cl::cat(compileCategory));
cl::opt<bool> useDemo("demo",
                      cl::desc("Compile the built-in example spec "
                               "(examples/demo.mlir) instead of a file"),
                      cl::cat(compileCategory));
cl::opt<int> csvDirections(
    "csv-directions",
    cl::desc("For .csv input: 2 for DualPipe (stages 0..R-1 and R..2R-1 carry "
             "separate micro-batches), else 1"),
    cl::init(1), cl::cat(compileCategory));

// `pwc compare` options.
cl::opt<std::string> compareInput(cl::Positional, cl::sub(compareCommand),
                                  cl::Required, cl::desc("<spec.mlir>"),
                                  cl::cat(compareCategory));
cl::list<std::string> compareSchedules(
    "schedules", cl::sub(compareCommand), cl::CommaSeparated,
    cl::desc("Schedule kinds to compare (default: gpipe,1f1b,zb-h1,zb-v,"
             "dualpipe,dualpipev; interleaved-1f1b uses 2 stages per rank)"),
    cl::cat(compareCategory));

// `pwc init` options; the cost flag names are part of the interface.
cl::opt<std::string> initSchedule(
    "schedule", cl::sub(initCommand), cl::Required,
    cl::desc("Schedule kind: gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-v, "
             "dualpipe, dualpipev"),
    cl::cat(initCategory));
cl::opt<int> initRanks("ranks", cl::sub(initCommand), cl::Required,
                       cl::desc("Pipeline ranks (GPUs)"),
                       cl::cat(initCategory));
cl::opt<int> initMicrobatches("microbatches", cl::sub(initCommand),
                              cl::Required,
                              cl::desc("Micro-batches per training step"),
                              cl::cat(initCategory));
cl::opt<int> initStagesPerRank(
    "stages-per-rank", cl::sub(initCommand), cl::init(0),
    cl::desc("Stages per rank (default: the schedule's own, 1 or 2)"),
    cl::cat(initCategory));
cl::opt<std::string> initName("name", cl::sub(initCommand), cl::init("train"),
                              cl::desc("Pipeline symbol name (default train)"),
                              cl::cat(initCategory));
cl::opt<double> initForward("forward", cl::sub(initCommand), cl::init(1.0),
                            cl::desc("Forward cost F per stage (default 1.0)"),
                            cl::cat(initCategory));
cl::opt<double>
    initBackwardInput("backward-input", cl::sub(initCommand), cl::init(1.0),
                      cl::desc("Backward-for-input cost I (default 1.0)"),
                      cl::cat(initCategory));
cl::opt<double> initBackwardWeight(
    "backward-weight", cl::sub(initCommand), cl::init(1.0),
    cl::desc("Backward-for-weights cost W (default 1.0); B = I + W"),
    cl::cat(initCategory));
cl::opt<double> initOverlapped(
    "overlapped", cl::sub(initCommand), cl::init(-1.0),
    cl::desc("Cost of one overlapped F&B pair (default F + I + W: no "
             "overlap benefit)"),
    cl::cat(initCategory));
cl::opt<double> initLatency("p2p-latency", cl::sub(initCommand), cl::init(0.0),
                            cl::desc("Point-to-point latency (default 0)"),
                            cl::cat(initCategory));
cl::opt<double> initBandwidth(
    "p2p-bandwidth", cl::sub(initCommand), cl::init(-1.0),
    cl::desc("Point-to-point bandwidth in bytes per time unit (default: "
             "none, transfers cost only latency)"),
    cl::cat(initCategory));
cl::opt<int64_t> initActivationBytes(
    "activation-bytes", cl::sub(initCommand), cl::init(0),
    cl::desc("Bytes of one activation message (default 0: unknown)"),
    cl::cat(initCategory));
} // namespace

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "pwc") << message << "\n";
  return 1;
}

static int runInit() {
  pipeweave::StarterSpecOptions options;
  options.name = initName;
  options.schedule = initSchedule;
  options.ranks = initRanks;
  options.microbatches = initMicrobatches;
  options.stagesPerRank = initStagesPerRank;
  options.forward = initForward;
  options.backwardInput = initBackwardInput;
  options.backwardWeight = initBackwardWeight;
  if (initOverlapped.getNumOccurrences())
    options.overlapped = initOverlapped;
  options.p2pLatency = initLatency;
  if (initBandwidth.getNumOccurrences())
    options.p2pBandwidth = initBandwidth;
  options.activationBytes = initActivationBytes;
  if (std::optional<std::string> problem =
          pipeweave::checkStarterSpecOptions(options))
    return fail("init: " + *problem);
  llvm::outs() << pipeweave::formatStarterSpec(options);
  return 0;
}

/// The output kind: --emit, else inferred from -o's extension.
static Emit chosenEmit() {
  if (emitKind.getNumOccurrences() || outputFile == "-")
    return emitKind;
  llvm::StringRef extension = llvm::sys::path::extension(outputFile.getValue());
  return llvm::StringSwitch<Emit>(extension)
      .Case(".mlir", Emit::Sched)
      .Case(".csv", Emit::TorchCsv)
      .Cases(".cpp", ".cc", Emit::Cpp)
      .Case(".ll", Emit::LLVM)
      .Case(".o", Emit::Obj)
      .Case(".txt", Emit::Summary)
      .Case(".svg", Emit::Svg)
      .Case(".json", Emit::ChromeTrace)
      .Default(extension.empty() ? Emit::Lib : Emit::Sched);
}

/// What --codegen and --timing ask of the code generators.
static pipeweave::CodegenOptions codegenOptions(TimingScope &timer) {
  pipeweave::CodegenOptions options;
  if (codegenForm == Codegen::Calls)
    options.tableThreshold = -1;
  else if (codegenForm == Codegen::Table)
    options.tableThreshold = 0;
  options.timing = &timer;
  return options;
}

/// Lowers the checked sched programs to the runtime level; with `name`,
/// the single program is renamed so that its functions are NAME_step, ...
static LogicalResult lowerToRuntime(ModuleOp module, llvm::StringRef name,
                                    TimingScope &timer) {
  PassManager pm(module.getContext());
  // Verified by its tests; re-verifying large programs costs seconds.
  pm.enableVerifier(false);
  pm.enableTiming(timer);
  pm.addPass(pipeweave::createSchedToRuntime());
  if (failed(pm.run(module)))
    return failure();
  // Expert groups describe the spec's all-to-alls; the generated code holds
  // only the runtime programs (and the C++ emitter prints nothing else).
  for (Operation &op : llvm::make_early_inc_range(module.getOps()))
    if (op.getName().getDialectNamespace() == "moe")
      op.erase();
  if (name.empty())
    return success();
  auto programs = llvm::to_vector(module.getOps<pipeweave::pwrt::ProgramOp>());
  if (programs.size() != 1)
    return module.emitError() << "a library holds exactly one program; the "
                                 "input has "
                              << programs.size();
  programs.front().setSymName(name);
  return success();
}

/// Writes NAME.h and libNAME.a next to each other.
static int writeLibrary(ModuleOp module, TimingScope &timer) {
  llvm::StringRef path = outputFile.getValue();
  if (path == "-")
    return fail("--emit=lib needs -o NAME (writes NAME.h and libNAME.a)");
  llvm::StringRef name = llvm::sys::path::filename(path);
  if (name.empty() ||
      !llvm::all_of(name,
                    [](char c) { return llvm::isAlnum(c) || c == '_'; }) ||
      llvm::isDigit(name.front()))
    return fail("library name '" + name +
                "' must be a C identifier (it prefixes NAME_step)");
  if (failed(lowerToRuntime(module, name, timer)))
    return 1;
  llvm::SmallString<256> directory = llvm::sys::path::parent_path(path);
  llvm::SmallString<256> header = directory, library = directory;
  llvm::sys::path::append(header, name + ".h");
  llvm::sys::path::append(library, "lib" + name + ".a");
  int64_t ranks =
      (*module.getOps<pipeweave::pwrt::ProgramOp>().begin()).getRanks();
  std::string errorMessage;
  auto headerFile = openOutputFile(header, &errorMessage);
  if (!headerFile)
    return fail(errorMessage);
  headerFile->os() << pipeweave::headerFor(name, ranks);
  if (failed(pipeweave::writeStaticLibrary(module, library,
                                           codegenOptions(timer))))
    return 1;
  headerFile->keep();
  return 0;
}

/// Simulates every program of `module`; an error points at the program (or
/// the action where the simulation got stuck).
static FailureOr<std::vector<pipeweave::simulate::Simulation>>
simulatePrograms(ModuleOp module) {
  std::vector<pipeweave::simulate::Simulation> simulations;
  for (auto program : module.getOps<pipeweave::sched::ProgramOp>()) {
    auto simulated = pipeweave::simulateProgram(program);
    if (failed(simulated))
      return failure();
    simulations.push_back(std::move(*simulated));
  }
  if (simulations.empty())
    return module.emitError("nothing to simulate: no sched.program");
  return simulations;
}

/// Writes the compiled module in the requested form.
static LogicalResult emit(ModuleOp module, llvm::raw_pwrite_stream &os,
                          TimingScope &timer) {
  switch (chosenEmit()) {
  case Emit::Report:
  case Emit::Svg:
  case Emit::ChromeTrace: {
    auto simulations = simulatePrograms(module);
    if (failed(simulations))
      return failure();
    for (const auto &simulation : *simulations) {
      if (chosenEmit() == Emit::Svg)
        os << pipeweave::simulate::formatSvgTimeline(simulation);
      else if (chosenEmit() == Emit::ChromeTrace)
        os << pipeweave::simulate::formatChromeTrace(simulation);
      else if (reportFormat == Format::Json)
        os << pipeweave::simulate::formatReportJson(simulation);
      else
        os << pipeweave::simulate::formatReportTable(simulation);
    }
    return success();
  }
  case Emit::Runtime: {
    if (failed(lowerToRuntime(module, "", timer)))
      return failure();
    TimingScope printing = timer.nest("Print pwrt IR");
    module.print(os);
    os << "\n";
    return success();
  }
  case Emit::Cpp:
    return failure(
        failed(lowerToRuntime(module, "", timer)) ||
        failed(pipeweave::emitCpp(module, os, codegenOptions(timer))));
  case Emit::LLVM:
    return failure(
        failed(lowerToRuntime(module, "", timer)) ||
        failed(pipeweave::emitLLVMIR(module, os, codegenOptions(timer))));
  case Emit::Obj:
    return failure(
        failed(lowerToRuntime(module, "", timer)) ||
        failed(pipeweave::emitObject(module, os, codegenOptions(timer))));
  case Emit::Lib:
    llvm_unreachable("libraries are written by writeLibrary");
  case Emit::Sched: {
    TimingScope printing = timer.nest("Print sched IR");
    module.print(os);
    os << "\n";
    return success();
  }
  case Emit::TorchCsv:
    return pipeweave::exportTorchCsv(module, os);
  case Emit::Summary: {
    bool first = true;
    for (auto program : module.getOps<pipeweave::sched::ProgramOp>()) {
      FailureOr<pipeweave::sched::ProgramValue> value =
          pipeweave::sched::toProgramValue(program);
      if (failed(value))
        return failure();
      os << (first ? "" : "\n") << pipeweave::formatSummary(value->schedule)
         << "\nchecks: schedule valid; no deadlock with blocking grouped "
            "send/recv\n";
      first = false;
    }
    if (first)
      return module.emitError("nothing to summarise: no sched.program");
    return success();
  }
  }
  llvm_unreachable("unknown emit kind");
}

/// `pwc compare`: the spec's model under each schedule, one row each.
static int runCompare() {
  DialectRegistry registry;
  pipeweave::registerPipeweaveDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> spec =
      parseSourceFile<ModuleOp>(compareInput, sourceMgr, &context);
  if (!spec)
    return 1;
  auto pipelines = llvm::to_vector(spec->getOps<pipeweave::pipe::PipelineOp>());
  if (pipelines.size() != 1)
    return fail("compare needs a spec with exactly one pipe.pipeline (found " +
                llvm::Twine(pipelines.size()) + ")");
  std::vector<std::string> kinds(compareSchedules.begin(),
                                 compareSchedules.end());
  if (kinds.empty())
    kinds = {"gpipe", "1f1b", "zb-h1", "zb-v", "dualpipe", "dualpipev"};

  std::vector<pipeweave::simulate::ComparisonRow> rows;
  std::vector<std::string> skipped;
  for (const std::string &kind : kinds) {
    auto parsed = pipeweave::schedule::parseScheduleKind(kind);
    if (!parsed)
      return fail("unknown schedule '" + kind + "'; expected one of: " +
                  pipeweave::schedule::scheduleKindList());
    // The same model under another schedule: the spec with its kind (and
    // the kind's stages per rank) replaced.
    OwningOpRef<ModuleOp> variant(spec->clone());
    auto pipeline = *variant->getOps<pipeweave::pipe::PipelineOp>().begin();
    pipeline.setSchedule(kind);
    pipeline.removeStagesPerRankAttr();
    if (*parsed == pipeweave::schedule::ScheduleKind::Interleaved1F1B)
      pipeline.setStagesPerRank(2);
    // A kind whose rules this model breaks is left out, with the reason.
    if (auto problem = pipeweave::schedule::checkScheduleParams(
            pipeweave::pipe::getScheduleParams(pipeline))) {
      skipped.push_back(kind + ": " + *problem);
      continue;
    }
    if (failed(verify(*variant)))
      return 1;
    PassManager pm(&context);
    pm.addPass(pipeweave::createPipeBuildSchedule());
    if (failed(pm.run(*variant)))
      return 1;
    auto simulations = simulatePrograms(*variant);
    if (failed(simulations))
      return 1;
    rows.push_back(pipeweave::simulate::summarize(simulations->front(), kind));
  }
  llvm::outs() << (reportFormat == Format::Json
                       ? pipeweave::simulate::formatComparisonJson(rows)
                       : pipeweave::simulate::formatComparisonTable(rows));
  llvm::outs().flush();
  for (const std::string &reason : skipped)
    llvm::errs() << "pwc: note: left out " << reason << "\n";
  return rows.empty() ? 1 : 0;
}

static int runCompile() {
  if (useDemo == !inputFile.empty())
    return fail(useDemo ? "give either --demo or an input file, not both"
                        : "no input; give a spec (pwc spec.mlir), a CSV "
                          "schedule, or --demo (see pwc --help)");

  DefaultTimingManager timingManager;
  timingManager.setEnabled(timing);
  TimingScope timer = timingManager.getRootScope();
  TimingScope setup = timer.nest("Set up");
  DialectRegistry registry;
  pipeweave::registerPipeweaveDialects(registry);
  // One thread: the passes run on one module, and the context's locks
  // would cost time on every attribute and type of a large program.
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();
  // Errors point at the spec or CSV text; a dump of the op adds nothing.
  context.printOpOnDiagnostic(false);
  setup.stop();

  llvm::SourceMgr sourceMgr;
  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> input;
  if (useDemo) {
    input = llvm::MemoryBuffer::getMemBuffer(kDemoSpec, "examples/demo.mlir");
  } else {
    input = openInputFile(inputFile, &errorMessage);
    if (!input)
      return fail(errorMessage);
  }
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  TimingScope parsing = timer.nest("Parse");
  OwningOpRef<ModuleOp> module;
  bool isCsv = llvm::StringRef(inputFile).ends_with(".csv");
  if (isCsv) {
    pipeweave::TorchCsvImportOptions options;
    options.directions = csvDirections;
    module = pipeweave::importTorchCsv(sourceMgr, &context, options);
  } else {
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  }
  if (!module)
    return 1;
  parsing.stop();

  PassManager pm(&context);
  pm.enableTiming(timer);
  // The parser verified the input. The pipeline's passes build sched IR
  // through tested builders; of the verifier's checks of it, only the
  // program's own (a valid schedule) is worth its time on large programs,
  // where checking each of hundreds of thousands of ops again costs more
  // than the passes. So: those, once, at the end.
  pm.enableVerifier(false);
  pipeweave::buildCompilePipeline(pm);
  if (failed(pm.run(*module)))
    return 1;
  {
    TimingScope checking = timer.nest("Check the schedules");
    for (auto program : module->getOps<pipeweave::sched::ProgramOp>())
      if (failed(program.verifyRegions()))
        return 1;
  }
  if (chosenEmit() == Emit::Lib)
    return writeLibrary(*module, timer);

  auto output = openOutputFile(outputFile, &errorMessage);
  if (!output)
    return fail(errorMessage);
  if (failed(emit(*module, output->os(), timer)))
    return 1;
  TimingScope writing = timer.nest("Write the output");
  output->keep();
  output->os().flush();
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions({&compileCategory, &initCategory, &compareCategory,
                            &eplbOptionCategory()});
  cl::ParseCommandLineOptions(
      argc, argv,
      "pwc: the pipeweave compiler driver\n\n"
      "Compiles a pipeline spec (pipe dialect) into a checked per-rank "
      "schedule:\nbuilds the schedule, inserts send/recv pairs and proves "
      "the result\ndeadlock-free, then writes it, simulates it, or lowers "
      "it to code that runs\non the pipeweave runtime.\n\n"
      "  pwc init --schedule 1f1b --ranks 4 --microbatches 8 > spec.mlir\n"
      "  pwc spec.mlir --emit=summary\n"
      "  pwc spec.mlir --emit=torch-csv -o order.csv\n"
      "  pwc order.csv --emit=sched       (check a hand-written schedule)\n"
      "  pwc spec.mlir --emit=report --format=json   (simulated cost)\n"
      "  pwc spec.mlir --emit=svg -o step.svg        (timeline picture)\n"
      "  pwc compare spec.mlir --schedules 1f1b,zb-h1,dualpipe\n"
      "  pwc spec.mlir -o train          (train.h + libtrain.a: "
      "train_step(ctx))\n"
      "  pwc eplb --input case.json      (expert placement)\n"
      "  pwc --demo --emit=summary        (the built-in example)\n\n"
      "Run 'pwc init --help', 'pwc compare --help' or 'pwc eplb --help' "
      "for their flags.\n");
  if (eplbCommandSelected())
    return runEplbCommand();
  if (initCommand)
    return runInit();
  if (compareCommand)
    return runCompare();
  return runCompile();
}
