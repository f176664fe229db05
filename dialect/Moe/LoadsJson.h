//===- LoadsJson.h - Expert loads as JSON -----------------------*- C++ -*-===//
//
// The load matrix that `moe.expert_group`'s loads_file points at and that
// `pwc eplb` reads as "weight": a JSON array of layers, each an array of one
// number per expert.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_DIALECT_MOE_LOADSJSON_H
#define PIPEWEAVE_DIALECT_MOE_LOADSJSON_H

#include "passes/Eplb/Eplb.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace pipeweave::moe {

/// Reads `value` as a load matrix into problem.numLayers, numExperts and
/// loads. Returns a message naming `field` and the offending element, e.g.
/// "weight[1] has 11 loads; expected 12 like weight[0]".
std::optional<std::string> readLoadMatrix(const llvm::json::Value &value,
                                          llvm::StringRef field,
                                          eplb::EplbProblem &problem);

/// Reads a loads file: `{"weight": [[...], ...]}` or the bare matrix.
std::optional<std::string> readLoadsFile(llvm::StringRef path,
                                         eplb::EplbProblem &problem);

} // namespace pipeweave::moe

#endif // PIPEWEAVE_DIALECT_MOE_LOADSJSON_H
