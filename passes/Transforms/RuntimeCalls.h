//===- RuntimeCalls.h - pwrt ops as runtime calls ---------------*- C++ -*-===//
//
// The C and LLVM lowerings of the pwrt dialect issue the same runtime calls
// (pwrt/pwrt_codegen.h), in one of two forms: a flat sequence of pwrt_cg_*
// calls (readable, for small programs) or, per rank, a constant table of
// fixed-width records that pwrt_cg_run interprets (for large programs,
// whose flat form takes the compilers seconds). This describes the calls
// and both forms once.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H
#define PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H

#include "dialect/Runtime/RuntimeDialect.h"

#include <array>
#include <string>
#include <vector>

namespace pipeweave {

/// What a call between pwrt_cg_rank_begin and pwrt_cg_rank_end does; the
/// values are the table's PWRT_CG_OP_* codes.
enum class CallKind : int32_t {
  Launch = 0,
  Record = 1,
  Wait = 2,
  GroupBegin = 3,
  Send = 4,
  Recv = 5,
  GroupEnd = 6,
  LaunchLayer = 7, // a component's launch (pwrt_cg_launch_layer)
  AllToAll = 8,
};

/// Int32 fields per table record (PWRT_CG_RECORD_WIDTH).
constexpr int kRecordWidth = 10;

/// One runtime call of a rank's step.
struct RuntimeCall {
  CallKind kind = CallKind::Launch;
  int32_t stream = 0;
  /// Launch: kernel index, kind code (PWRT_CG_FORWARD...), stage, mb;
  /// LaunchLayer: the same, then the layer.
  /// AllToAll: name index, kind code, stage, mb, layer, row bytes.
  /// Send/Recv: peer, tag, payload (0 activation, 1 gradient), stage, mb.
  /// Record/Wait: event.
  std::array<int32_t, 6> fields{};
  /// Launch: in0, in1, out0, out1 by kind, as pwrt_codegen.h documents
  /// (LaunchLayer: in0 and out0 only); Send/Recv: the slot in slots[0];
  /// AllToAll: send and receive slots. An absent buffer has offset -1.
  std::array<pwrt::Slot, 4> slots{};
  /// The op the call comes from, for comments.
  mlir::Operation *op = nullptr;
};

/// The calls of a rank between pwrt_cg_rank_begin and pwrt_cg_rank_end.
struct RankCalls {
  std::vector<RuntimeCall> calls;
  int32_t numEvents = 0; // the rank's pwrt.record ops
};

/// The calls of `rank`; `kernels` is kernelsOf(program), `allToAlls`
/// allToAllsOf(program).
RankCalls runtimeCallsOf(pwrt::RankOp rank, llvm::ArrayRef<std::string> kernels,
                         llvm::ArrayRef<std::string> allToAlls = {});

/// The all-to-all component names `program` uses, sorted; the name
/// argument of pwrt_cg_all_to_all indexes this list.
std::vector<std::string> allToAllsOf(pwrt::ProgramOp program);

/// Processes per pipeline rank: the program's expert_parallel, else 1.
int32_t expertParallelOf(pwrt::ProgramOp program);

/// The kernel names `program` launches, sorted; the kernel argument of
/// pwrt_cg_launch indexes this list.
std::vector<std::string> kernelsOf(pwrt::ProgramOp program);

/// Whether the code of `program` uses the table form: its ranks make more
/// than `threshold` calls in all (a negative threshold: never).
bool usesTables(pwrt::ProgramOp program, int64_t threshold);

//===----------------------------------------------------------------------===//
// The flat form
//===----------------------------------------------------------------------===//

/// One argument of a flat call after the context.
struct CallArg {
  enum Kind { I32, I64 } kind;
  int64_t value = 0;
};

/// The pwrt_cg_* function that issues `call` and its arguments after the
/// context.
llvm::StringRef calleeOf(const RuntimeCall &call);
llvm::SmallVector<CallArg, 13> argumentsOf(const RuntimeCall &call);

/// A comment naming the compute action of a launch ("forward stage 0 mb 3:
/// f"); empty for other calls.
std::string commentOf(const RuntimeCall &call);

//===----------------------------------------------------------------------===//
// The table form
//===----------------------------------------------------------------------===//

/// A rank's calls as pwrt_cg_run takes them: kRecordWidth int32 per call,
/// slots referred to by index into `slots` (offset, bytes pairs).
struct CallTable {
  std::vector<int32_t> records;
  std::vector<int64_t> slots;
  int64_t numRecords() const { return records.size() / kRecordWidth; }
  int64_t numSlots() const { return slots.size() / 2; }
};
CallTable tableOf(llvm::ArrayRef<RuntimeCall> calls);

/// The C initializer of `table`'s records, one record per line, a comment
/// naming the compute action of each launch: "{\n  0, 0, ...  // forward
/// stage 0 mb 0: f\n ...}". Written directly: printing millions of
/// integers one attribute element at a time takes a large fraction of the
/// compile time.
std::string recordsInitializer(const CallTable &table,
                               llvm::ArrayRef<std::string> kernels);

/// The C initializer of `table`'s slots, one (offset, bytes) pair per line.
std::string slotsInitializer(const CallTable &table);

} // namespace pipeweave

#endif // PIPEWEAVE_PASSES_TRANSFORMS_RUNTIMECALLS_H
