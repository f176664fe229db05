//===- TorchCsvTranslation.cpp - sched <-> PyTorch pipelining CSV ---------===//

#include "codegen/TorchCsv/TorchCsvTranslation.h"
#include "dialect/Pipe/PipeDialect.h"
#include "dialect/Sched/SchedDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"

using namespace mlir;
namespace schedule = pipeweave::schedule;

LogicalResult pipeweave::exportTorchCsv(ModuleOp module,
                                        llvm::raw_ostream &output) {
  auto programs = llvm::to_vector(module.getOps<sched::ProgramOp>());
  if (programs.size() != 1)
    return module.emitError()
           << "torch CSV export needs exactly one sched.program, found "
           << programs.size()
           << (programs.empty() ? "; compile the spec first (pwc --emit=sched "
                                  "or pw-opt --pw-compile)"
                                : "");
  FailureOr<sched::ProgramValue> value = sched::toProgramValue(programs[0]);
  if (failed(value))
    return failure();
  output << schedule::formatTorchCsv(value->schedule);
  return success();
}

namespace {
/// The 1-based line and column of every cell of every non-empty line, so
/// that actions can carry the location of the text they came from.
struct CellPositions {
  std::vector<std::vector<std::pair<int, int>>> ranks;

  explicit CellPositions(StringRef text) {
    int lineNo = 0;
    while (!text.empty()) {
      auto [line, rest] = text.split('\n');
      text = rest;
      ++lineNo;
      if (line.trim().empty())
        continue;
      std::vector<std::pair<int, int>> cells;
      size_t start = 0;
      while (true) {
        size_t comma = line.find(',', start);
        StringRef cell = line.slice(start, comma);
        size_t leading = cell.size() - cell.ltrim().size();
        cells.push_back({lineNo, static_cast<int>(start + leading) + 1});
        if (comma == StringRef::npos)
          break;
        start = comma + 1;
      }
      ranks.push_back(std::move(cells));
    }
  }
};
} // namespace

OwningOpRef<ModuleOp>
pipeweave::importTorchCsv(llvm::SourceMgr &sourceMgr, MLIRContext *context,
                          const TorchCsvImportOptions &options) {
  context->loadDialect<sched::SchedDialect>();
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  StringRef text = buffer->getBuffer();
  StringAttr file = StringAttr::get(context, buffer->getBufferIdentifier());
  auto locAt = [&](int line, int column) -> Location {
    return FileLineColLoc::get(file, line, column);
  };

  if (options.directions < 1)
    return emitError(locAt(1, 1), "--csv-directions must be at least 1"),
           nullptr;
  schedule::CsvParseResult parsed =
      schedule::parseTorchCsv(text, options.directions);
  if (!parsed.schedule) {
    const schedule::CsvError &error = *parsed.error;
    emitError(locAt(error.line, error.column)) << error.message;
    return nullptr;
  }
  schedule::Schedule &imported = *parsed.schedule;
  imported.name = options.programName;

  OpBuilder builder(context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(locAt(1, 1));
  builder.setInsertionPointToEnd(module->getBody());
  sched::ProgramOp program =
      sched::buildProgram(builder, locAt(1, 1), imported);

  CellPositions cells(text);
  for (sched::RankOp rank : program.getBody().getOps<sched::RankOp>()) {
    size_t index = rank.getRank();
    if (index >= cells.ranks.size())
      continue;
    rank->setLoc(locAt(cells.ranks[index].front().first, 1));
    for (auto [op, cell] :
         llvm::zip(rank.getBody().front(), cells.ranks[index]))
      op.setLoc(locAt(cell.first, cell.second));
  }
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void pipeweave::registerTorchCsvTranslations() {
  static llvm::cl::opt<std::string> programName(
      "csv-program-name",
      llvm::cl::desc("Symbol name of the sched.program that "
                     "--torch-csv-to-sched creates"),
      llvm::cl::init("imported"));
  static llvm::cl::opt<int> directions(
      "csv-directions",
      llvm::cl::desc("Directions of the imported schedule: 2 for DualPipe "
                     "(stages 0..R-1 and R..2R-1 carry separate "
                     "micro-batches), 1 otherwise"),
      llvm::cl::init(1));

  TranslateFromMLIRRegistration exportCsv(
      "sched-to-torch-csv",
      "Write a sched.program as PyTorch pipelining CSV (compute actions only)",
      [](Operation *op, llvm::raw_ostream &output) {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module"), failure();
        return exportTorchCsv(module, output);
      },
      [](DialectRegistry &registry) {
        // pipe too, so that a spec gets "compile it first", not a parse error.
        registry.insert<pipe::PipeDialect, sched::SchedDialect>();
      });

  TranslateToMLIRRegistration importCsv(
      "torch-csv-to-sched",
      "Read PyTorch pipelining CSV (one line per rank) into a sched.program",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        TorchCsvImportOptions options;
        options.programName = programName;
        options.directions = directions;
        return importTorchCsv(sourceMgr, context, options);
      },
      [](DialectRegistry &registry) {
        registry.insert<sched::SchedDialect>();
      });
}
