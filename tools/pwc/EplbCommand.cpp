//===- EplbCommand.cpp - `pwc eplb`: expert-parallel load balancing -------===//

#include "EplbCommand.h"

#include "dialect/Moe/LoadsJson.h"
#include "passes/Eplb/Eplb.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;
namespace eplb = pipeweave::eplb;
namespace json = llvm::json;

namespace {
enum class Format { Json, Table };

cl::OptionCategory eplbCategory("pwc eplb options");

cl::SubCommand
    eplbCommand("eplb",
                "Balance MoE expert loads over GPUs (DeepSeek's EPLB and "
                "pipeweave's policies)");

cl::opt<std::string> inputPath(
    "input", cl::sub(eplbCommand), cl::Required,
    cl::desc("The case, as JSON: {\"weight\": [[per-expert loads], ...per "
             "layer], \"num_replicas\": R, \"num_groups\": G, \"num_nodes\": "
             "N, \"num_gpus\": P} (- for stdin)"),
    cl::value_desc("case.json"), cl::cat(eplbCategory));
cl::opt<std::string> policyText(
    "policy", cl::sub(eplbCommand), cl::init("reference"),
    cl::desc("Comma-separated policy: reference (default; hierarchical when "
             "num_nodes divides num_groups, else global), hierarchical or "
             "global, plus any of refine, no-colocated-replicas, "
             "min-migration"),
    cl::value_desc("policy"), cl::cat(eplbCategory));
cl::opt<Format> format(
    "format", cl::sub(eplbCommand), cl::init(Format::Json),
    cl::desc("Output format"),
    cl::values(clEnumValN(Format::Json, "json",
                          "phy2log, log2phy, logcnt and per-layer balance "
                          "(default)"),
               clEnumValN(Format::Table, "table",
                          "per-layer balance and each GPU's experts")),
    cl::cat(eplbCategory));
cl::opt<std::string> previousPath(
    "previous", cl::sub(eplbCommand),
    cl::desc("The placement to migrate from: JSON with \"phy2log\" (e.g. an "
             "earlier output); needed by min-migration, and reports moved "
             "slots for any policy"),
    cl::value_desc("placement.json"), cl::cat(eplbCategory));

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "pwc") << message << "\n";
  return 1;
}

/// `text` with the bare NaN, Infinity and -Infinity that Python's json
/// module writes (not JSON) quoted, so that the load they stand for is
/// reported by position instead of failing the whole parse.
std::string quoteNonFiniteLiterals(llvm::StringRef text) {
  std::string out;
  out.reserve(text.size());
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    bool matched = false;
    for (llvm::StringRef literal : {"-Infinity", "Infinity", "NaN"}) {
      if (text.substr(i).starts_with(literal)) {
        out += "\"" + literal.str() + "\"";
        i += literal.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched)
      out += c;
  }
  return out;
}

/// Reads a JSON document; on failure returns a message naming `path`.
std::optional<std::string> readJson(llvm::StringRef path, json::Value &out) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFileOrSTDIN(path);
  if (!buffer)
    return "cannot read '" + path.str() + "': " + buffer.getError().message();
  llvm::Expected<json::Value> value =
      json::parse(quoteNonFiniteLiterals((*buffer)->getBuffer()));
  if (!value)
    return path.str() +
           ": not valid JSON: " + llvm::toString(value.takeError());
  out = std::move(*value);
  return std::nullopt;
}

/// The reference's arguments from a case object. A fixture's {"input":
/// {...}} wrapper is looked through; other fields are ignored.
std::optional<std::string> readCase(const json::Value &document,
                                    eplb::EplbProblem &problem) {
  const json::Object *object = document.getAsObject();
  if (object && !object->get("weight") && object->getObject("input"))
    object = object->getObject("input");
  if (!object)
    return std::string("expected a JSON object with weight, num_replicas, "
                       "num_groups, num_nodes and num_gpus");
  const json::Value *weight = object->get("weight");
  if (!weight)
    return std::string("missing field 'weight' (per-layer, per-expert loads)");
  if (std::optional<std::string> error =
          pipeweave::moe::readLoadMatrix(*weight, "weight", problem))
    return error;
  for (auto [name, field] : {std::pair{"num_replicas", &problem.numReplicas},
                             std::pair{"num_groups", &problem.numGroups},
                             std::pair{"num_nodes", &problem.numNodes},
                             std::pair{"num_gpus", &problem.numGpus}}) {
    const json::Value *value = object->get(name);
    if (!value)
      return "missing field '" + std::string(name) + "'";
    std::optional<int64_t> integer = value->getAsInteger();
    if (!integer)
      return std::string(name) + " must be an integer (got " +
             llvm::formatv("{0}", *value).str() + ")";
    *field = *integer;
  }
  return std::nullopt;
}

std::optional<std::string> readPrevious(const json::Value &document,
                                        std::vector<int64_t> &phy2log) {
  const json::Object *object = document.getAsObject();
  const json::Value *rows = object ? object->get("phy2log") : nullptr;
  if (!rows)
    return std::string("missing field 'phy2log'");
  const json::Array *layers = rows->getAsArray();
  if (!layers)
    return std::string("phy2log must be an array of layers");
  for (auto [layer, row] : llvm::enumerate(*layers)) {
    const json::Array *slots = row.getAsArray();
    if (!slots)
      return "phy2log[" + std::to_string(layer) + "] must be an array";
    for (auto [slot, expert] : llvm::enumerate(*slots)) {
      std::optional<int64_t> value = expert.getAsInteger();
      if (!value)
        return "phy2log[" + std::to_string(layer) + "][" +
               std::to_string(slot) + "] must be an integer";
      phy2log.push_back(*value);
    }
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

std::string number(double value) {
  return llvm::formatv("{0}", json::Value(value)).str();
}

/// `values` as rows of `width`: one JSON array per line.
void writeRows(llvm::raw_ostream &os, llvm::ArrayRef<int64_t> values,
               int64_t width, llvm::StringRef indent) {
  os << "[";
  for (size_t start = 0; start < values.size(); start += width) {
    os << (start ? ",\n" : "\n") << indent << "  [";
    for (int64_t i = 0; i < width; ++i)
      os << (i ? ", " : "") << values[start + i];
    os << "]";
  }
  os << "\n" << indent << "]";
}

void writeNumbers(llvm::raw_ostream &os, llvm::ArrayRef<double> values) {
  os << "[";
  for (size_t i = 0; i < values.size(); ++i)
    os << (i ? ", " : "") << number(values[i]);
  os << "]";
}

struct Report {
  const eplb::EplbProblem &problem;
  const eplb::PolicyOptions &options;
  const eplb::Placement &placement;
  std::vector<eplb::LayerBalance> balance;
  /// The reference's balance on the same input, when the policy is not
  /// the plain reference.
  std::optional<std::vector<eplb::LayerBalance>> reference;
  std::vector<int64_t> moved, movedByReference; // with --previous
};

template <typename Field>
std::vector<double> column(const std::vector<eplb::LayerBalance> &balance,
                           Field field) {
  std::vector<double> values;
  for (const eplb::LayerBalance &layer : balance)
    values.push_back(layer.*field);
  return values;
}

void writeJson(llvm::raw_ostream &os, const Report &report) {
  const eplb::Placement &p = report.placement;
  os << "{\n  \"policy\": \"" << eplb::formatPolicy(report.options)
     << "\",\n  \"strategy\": \""
     << (p.hierarchical ? "hierarchical" : "global") << "\",\n";
  os << "  \"phy2log\": ";
  writeRows(os, p.phy2log, p.numReplicas, "  ");
  os << ",\n  \"log2phy\": [";
  const int64_t perLayer = p.numExperts * p.maxReplicas;
  for (int64_t layer = 0; layer < p.numLayers; ++layer) {
    os << (layer ? ",\n" : "\n") << "    ";
    writeRows(
        os,
        llvm::ArrayRef<int64_t>(p.log2phy).slice(layer * perLayer, perLayer),
        p.maxReplicas, "    ");
  }
  os << "\n  ],\n  \"logcnt\": ";
  writeRows(os, p.logcnt, p.numExperts, "  ");
  using B = eplb::LayerBalance;
  auto metric = [&](llvm::StringRef name,
                    const std::vector<eplb::LayerBalance> &balance,
                    double B::*field, llvm::StringRef indent) {
    os << ",\n" << indent << "\"" << name << "\": ";
    writeNumbers(os, column(balance, field));
  };
  metric("balancedness", report.balance, &B::balancedness, "  ");
  metric("max_gpu_load", report.balance, &B::maxGpuLoad, "  ");
  metric("mean_gpu_load", report.balance, &B::meanGpuLoad, "  ");
  metric("lower_bound", report.balance, &B::lowerBound, "  ");
  metric("gap_to_bound", report.balance, &B::gapToBound, "  ");
  if (report.reference) {
    os << ",\n  \"reference\": {";
    os << "\n    \"balancedness\": ";
    writeNumbers(os, column(*report.reference, &B::balancedness));
    metric("max_gpu_load", *report.reference, &B::maxGpuLoad, "    ");
    os << "\n  }";
  }
  if (!report.moved.empty()) {
    os << ",\n  \"moved\": [";
    llvm::interleaveComma(report.moved, os);
    os << "],\n  \"moved_by_reference\": [";
    llvm::interleaveComma(report.movedByReference, os);
    os << "]";
  }
  os << "\n}\n";
}

void writeTable(llvm::raw_ostream &os, const Report &report) {
  const eplb::EplbProblem &problem = report.problem;
  const eplb::Placement &p = report.placement;
  os << "EPLB: " << problem.numLayers << " layers, " << problem.numExperts
     << " experts in " << problem.numGroups << " groups, "
     << problem.numReplicas << " slots on " << problem.numGpus << " GPUs in "
     << problem.numNodes << " nodes\n";
  os << "policy " << eplb::formatPolicy(report.options) << " ("
     << (p.hierarchical ? "hierarchical" : "global") << " strategy)\n\n";

  os << "layer      max GPU load     mean load  balancedness   lower bound"
        "      gap";
  if (report.reference)
    os << "   ref max load  ref balanced";
  if (!report.moved.empty())
    os << "  moved  ref moved";
  os << "\n";
  for (int64_t layer = 0; layer < p.numLayers; ++layer) {
    const eplb::LayerBalance &b = report.balance[layer];
    os << llvm::format("%5lld  %16.6g  %12.6g  %12.4f  %12.6g  %6.2f%%",
                       static_cast<long long>(layer), b.maxGpuLoad,
                       b.meanGpuLoad, b.balancedness, b.lowerBound,
                       100 * b.gapToBound);
    if (report.reference) {
      const eplb::LayerBalance &r = (*report.reference)[layer];
      os << llvm::format("  %13.6g  %12.4f", r.maxGpuLoad, r.balancedness);
    }
    if (!report.moved.empty())
      os << llvm::format(
          "  %5lld  %9lld", static_cast<long long>(report.moved[layer]),
          static_cast<long long>(report.movedByReference[layer]));
    os << "\n";
  }

  const int64_t perGpu = problem.numReplicas / problem.numGpus;
  const int64_t gpusPerNode = problem.numGpus % problem.numNodes == 0
                                  ? problem.numGpus / problem.numNodes
                                  : problem.numGpus;
  for (int64_t layer = 0; layer < p.numLayers; ++layer) {
    os << "\nlayer " << layer << ": experts in each GPU's slots (GPU load)\n";
    for (int64_t gpu = 0; gpu < problem.numGpus; ++gpu) {
      double load = 0;
      os << llvm::format(
          "  node %2lld  gpu %3lld:", static_cast<long long>(gpu / gpusPerNode),
          static_cast<long long>(gpu));
      for (int64_t r = 0; r < perGpu; ++r) {
        int64_t expert = p.expertAt(layer, gpu * perGpu + r);
        os << llvm::format(" %4lld", static_cast<long long>(expert));
        load += static_cast<double>(
                    static_cast<float>(problem.load(layer, expert))) /
                p.logcnt[layer * p.numExperts + expert];
      }
      os << "  (" << llvm::format("%.6g", load) << ")\n";
    }
  }
}
} // namespace

bool eplbCommandSelected() { return static_cast<bool>(eplbCommand); }

llvm::cl::OptionCategory &eplbOptionCategory() { return eplbCategory; }

int runEplbCommand() {
  std::string error;
  std::optional<eplb::PolicyOptions> options =
      eplb::parsePolicy(policyText, error);
  if (!options)
    return fail("eplb: --policy: " + error);

  json::Value document = nullptr;
  if (std::optional<std::string> problem = readJson(inputPath, document))
    return fail("eplb: " + *problem);
  eplb::EplbProblem problem;
  if (std::optional<std::string> caseError = readCase(document, problem))
    return fail("eplb: " + inputPath + ": " + *caseError);
  if (std::optional<eplb::InputError> inputError =
          eplb::checkProblem(problem, *options, eplb::kReferenceFieldNames))
    return fail("eplb: " + inputPath + ": " + inputError->message);

  std::vector<int64_t> previous;
  if (!previousPath.empty()) {
    json::Value placement = nullptr;
    if (std::optional<std::string> readError =
            readJson(previousPath, placement))
      return fail("eplb: --previous: " + *readError);
    if (std::optional<std::string> previousError =
            readPrevious(placement, previous))
      return fail("eplb: " + previousPath + ": " + *previousError);
    if (std::optional<eplb::InputError> shapeError =
            eplb::checkPreviousPhy2Log(problem, previous, "phy2log"))
      return fail("eplb: " + previousPath + ": " + shapeError->message);
  } else if (options->minMigration) {
    return fail("eplb: policy 'min-migration' needs --previous, a JSON file "
                "with the previous \"phy2log\" (e.g. an earlier output of "
                "pwc eplb)");
  }

  eplb::Placement placement =
      eplb::rebalanceExperts(problem, *options, previous);
  Report report{problem, *options, placement,
                eplb::measureBalance(problem, placement)};
  const bool plainReference =
      options->strategy == eplb::Strategy::Auto && !options->refine &&
      !options->noColocatedReplicas && !options->minMigration;
  eplb::Placement reference;
  if (!plainReference || !previous.empty())
    reference = eplb::rebalanceExperts(problem, eplb::PolicyOptions{});
  if (!plainReference)
    report.reference = eplb::measureBalance(problem, reference);
  if (!previous.empty()) {
    report.moved = eplb::countMovedSlots(previous, placement);
    report.movedByReference =
        eplb::countMovedSlots(previous, plainReference ? placement : reference);
  }

  if (format == Format::Json)
    writeJson(llvm::outs(), report);
  else
    writeTable(llvm::outs(), report);
  return 0;
}
