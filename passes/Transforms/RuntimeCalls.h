//===- RuntimeCalls.h - pwrt ops as runtime calls ---------------*- C++ -*-===//
//
// The C and LLVM lowerings of the pwrt dialect emit the same sequence of
// pwrt_cg_* calls (pwrt/pwrt_codegen.h); this describes that sequence once.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H
#define PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H

#include "dialect/Runtime/RuntimeDialect.h"

#include <string>
#include <variant>
#include <vector>

namespace pipeweave {

/// One argument after the context: an integer of the given width or a
/// string literal.
struct CallArg {
  enum Kind { I32, I64, String } kind;
  int64_t value = 0;
  std::string text;
};

/// One runtime call of a rank function, with a comment for readers.
struct RuntimeCall {
  std::string callee;
  std::vector<CallArg> args;
  std::string comment; // e.g. "forward stage 0 mb 3", may be empty
};

/// The calls of rank `rank` of `program`, begin to end; `kernelList` is
/// kernelListOf(program).
std::vector<RuntimeCall> runtimeCallsOf(pwrt::ProgramOp program,
                                        pwrt::RankOp rank,
                                        llvm::StringRef kernelList);

/// Comma-separated kernel names that `program` launches, sorted; the kernel
/// argument of pwrt_cg_launch indexes this list.
std::string kernelListOf(pwrt::ProgramOp program);

} // namespace pipeweave

#endif // PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H
