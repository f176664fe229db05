//===- LoadsJson.cpp - Expert loads as JSON -------------------------------===//

#include "dialect/Moe/LoadsJson.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace pipeweave;
using namespace pipeweave::moe;

std::optional<std::string> moe::readLoadMatrix(const llvm::json::Value &value,
                                               llvm::StringRef field,
                                               eplb::EplbProblem &problem) {
  const llvm::json::Array *layers = value.getAsArray();
  if (!layers || layers->empty())
    return (field + " must be a non-empty array of layers, each an array "
                    "of per-expert loads")
        .str();
  problem.loads.clear();
  problem.numLayers = layers->size();
  problem.numExperts = 0;
  for (auto [layer, row] : llvm::enumerate(*layers)) {
    std::string name = (field + "[" + llvm::Twine(layer) + "]").str();
    const llvm::json::Array *experts = row.getAsArray();
    if (!experts || experts->empty())
      return name + " must be a non-empty array of per-expert loads";
    if (layer == 0)
      problem.numExperts = experts->size();
    else if (static_cast<int64_t>(experts->size()) != problem.numExperts)
      return name + " has " + std::to_string(experts->size()) +
             " loads; expected " + std::to_string(problem.numExperts) +
             " like " + field.str() + "[0]";
    for (auto [expert, load] : llvm::enumerate(*experts)) {
      std::optional<double> number = load.getAsNumber();
      if (!number)
        return name + "[" + std::to_string(expert) +
               "] must be a finite, non-negative load (got " +
               llvm::formatv("{0}", load).str() + ")";
      problem.loads.push_back(*number);
    }
  }
  return std::nullopt;
}

std::optional<std::string> moe::readLoadsFile(llvm::StringRef path,
                                              eplb::EplbProblem &problem) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return "cannot read '" + path.str() + "': " + buffer.getError().message();
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return "'" + path.str() +
           "' is not JSON: " + llvm::toString(json.takeError());
  if (const llvm::json::Object *object = json->getAsObject()) {
    const llvm::json::Value *weight = object->get("weight");
    if (!weight)
      return "'" + path.str() + "' has no \"weight\" field";
    return readLoadMatrix(*weight, "weight", problem);
  }
  return readLoadMatrix(*json, "loads", problem);
}
