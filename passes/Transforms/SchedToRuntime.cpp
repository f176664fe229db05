//===- SchedToRuntime.cpp - sched.program -> pwrt.program -----------------===//

#include "passes/Lowering/RuntimePlan.h"
#include "passes/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace pipeweave {
#define GEN_PASS_DEF_SCHEDTORUNTIME
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct SchedToRuntimePass
    : pipeweave::impl::SchedToRuntimeBase<SchedToRuntimePass> {
  void runOnOperation() override {
    for (sched::ProgramOp program :
         llvm::make_early_inc_range(getOperation().getOps<sched::ProgramOp>()))
      if (failed(lower(program)))
        return signalPassFailure();
  }

  static LogicalResult lower(sched::ProgramOp program) {
    FailureOr<sched::ProgramValue> value = sched::toProgramValue(program);
    if (failed(value))
      return failure();
    if (!value->costs)
      return program.emitError()
             << "@" << program.getSymName()
             << " has no cost_model, so buffer sizes and kernels are "
                "unknown; compile it from a pipe spec";
    lower::RuntimeProgram lowered;
    if (std::optional<lower::LoweringError> error =
            lower::lowerToRuntime(value->schedule, *value->costs, lowered))
      return program.emitError() << "cannot lower @" << program.getSymName()
                                 << " to the runtime: " << error->message;

    OpBuilder builder(program);
    MLIRContext *context = builder.getContext();
    auto runtime = builder.create<pwrt::ProgramOp>(
        program.getLoc(), program.getSymName(), program.getRanks());
    runtime.getBody().push_back(new Block());
    builder.setInsertionPointToEnd(&runtime.getBody().front());
    for (auto [index, rankProgram] : llvm::enumerate(lowered.ranks)) {
      Location loc = value->rankOps[index].getLoc();
      auto rank =
          builder.create<pwrt::RankOp>(loc, index, rankProgram.poolBytes);
      rank.getBody().push_back(new Block());
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToEnd(&rank.getBody().front());
      Type streamType = pwrt::StreamType::get(context);
      Type eventType = pwrt::EventType::get(context);
      Value streams[] = {
          builder.create<pwrt::StreamOp>(loc, streamType, lower::streamName(0)),
          builder.create<pwrt::StreamOp>(loc, streamType,
                                         lower::streamName(1))};
      llvm::SmallVector<Value> events(rankProgram.numEvents);
      for (const lower::RuntimeOp &op : rankProgram.ops) {
        Value stream = streams[op.stream];
        switch (op.kind) {
        case lower::RuntimeOp::LaunchKernel: {
          NamedAttrList buffers;
          for (const lower::KernelBuffer &buffer : op.launch.buffers)
            buffers.append(buffer.role,
                           builder.getDenseI64ArrayAttr(
                               {buffer.slot.offset, buffer.slot.bytes}));
          builder.create<pwrt::LaunchOp>(
              loc, op.launch.kind, op.launch.kernel, op.launch.stage,
              op.launch.microbatch, stream, buffers.getDictionary(context));
          break;
        }
        case lower::RuntimeOp::TransferGroup: {
          auto group = builder.create<pwrt::P2PGroupOp>(loc, stream);
          group.getBody().push_back(new Block());
          OpBuilder::InsertionGuard groupGuard(builder);
          builder.setInsertionPointToEnd(&group.getBody().front());
          for (const lower::Transfer &t : op.transfers) {
            StringRef payload = t.payload == schedule::Payload::Activation
                                    ? "activation"
                                    : "gradient";
            if (t.isSend)
              builder.create<pwrt::SendOp>(loc, payload, t.stage, t.microbatch,
                                           t.peer, t.tag, t.slot.offset,
                                           t.slot.bytes);
            else
              builder.create<pwrt::RecvOp>(loc, payload, t.stage, t.microbatch,
                                           t.peer, t.tag, t.slot.offset,
                                           t.slot.bytes);
          }
          break;
        }
        case lower::RuntimeOp::RecordEvent:
          events[op.event] =
              builder.create<pwrt::RecordOp>(loc, eventType, stream);
          break;
        case lower::RuntimeOp::WaitEvent:
          builder.create<pwrt::WaitOp>(loc, stream, events[op.event]);
          break;
        }
      }
    }
    program.erase();
    return success();
  }
};
} // namespace
