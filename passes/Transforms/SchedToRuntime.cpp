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
pwrt::LaunchKind kindOf(lower::LaunchKind kind) {
  switch (kind) {
  case lower::LaunchKind::Forward:
    return pwrt::LaunchKind::Forward;
  case lower::LaunchKind::BackwardInput:
    return pwrt::LaunchKind::BackwardInput;
  case lower::LaunchKind::BackwardWeight:
    return pwrt::LaunchKind::BackwardWeight;
  case lower::LaunchKind::Backward:
    return pwrt::LaunchKind::Backward;
  case lower::LaunchKind::Loss:
    return pwrt::LaunchKind::Loss;
  }
  llvm_unreachable("unknown launch kind");
}

pwrt::LaunchRole roleOf(lower::BufferRole role) {
  switch (role) {
  case lower::BufferRole::Input:
    return pwrt::LaunchRole::Input;
  case lower::BufferRole::Output:
    return pwrt::LaunchRole::Output;
  case lower::BufferRole::Saved:
    return pwrt::LaunchRole::Saved;
  case lower::BufferRole::GradOutput:
    return pwrt::LaunchRole::GradOutput;
  case lower::BufferRole::GradInput:
    return pwrt::LaunchRole::GradInput;
  }
  llvm_unreachable("unknown buffer role");
}

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
    OpBuilder builder(program);
    MLIRContext *context = builder.getContext();
    auto runtime = builder.create<pwrt::ProgramOp>(
        program.getLoc(), program.getSymName(), program.getRanks());
    runtime.getBody().push_back(new Block());
    builder.setInsertionPointToEnd(&runtime.getBody().front());
    // Large programs have hundreds of thousands of ops: make the types and
    // names they share once.
    Type streamType = pwrt::StreamType::get(context);
    Type eventType = pwrt::EventType::get(context);
    StringAttr streamNames[] = {
        builder.getStringAttr(lower::streamName(lower::ComputeStream)),
        builder.getStringAttr(lower::streamName(lower::CommStream))};
    llvm::StringMap<StringAttr> kernelNames;
    // One rank at a time: its lowered form is used up before the next.
    lower::RuntimeLowering lowering(value->schedule, *value->costs);
    lower::RankProgram rankProgram;
    for (int index = 0; index < value->schedule.numRanks; ++index) {
      if (std::optional<lower::LoweringError> error =
              lowering.lowerRank(index, rankProgram)) {
        runtime.erase();
        return program.emitError() << "cannot lower @" << program.getSymName()
                                   << " to the runtime: " << error->message;
      }
      Location loc = value->rankOps[index].getLoc();
      auto rank =
          builder.create<pwrt::RankOp>(loc, index, rankProgram.poolBytes);
      rank.getBody().push_back(new Block());
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToEnd(&rank.getBody().front());
      Value streams[] = {
          builder.create<pwrt::StreamOp>(loc, streamType, streamNames[0]),
          builder.create<pwrt::StreamOp>(loc, streamType, streamNames[1])};
      llvm::SmallVector<Value> events(rankProgram.numEvents);
      for (const lower::RuntimeOp &op : rankProgram.ops) {
        Value stream = streams[op.stream];
        switch (op.kind) {
        case lower::RuntimeOp::LaunchKernel: {
          pwrt::LaunchBuffers buffers;
          for (const lower::KernelBuffer &buffer : op.launch.buffers)
            buffers.set(roleOf(buffer.role),
                        {buffer.slot.offset, buffer.slot.bytes});
          StringAttr &kernel = kernelNames[op.launch.kernel];
          if (!kernel)
            kernel = builder.getStringAttr(op.launch.kernel);
          builder.create<pwrt::LaunchOp>(loc, kindOf(op.launch.kind), kernel,
                                         op.launch.stage, op.launch.microbatch,
                                         stream, buffers);
          break;
        }
        case lower::RuntimeOp::TransferGroup: {
          auto group = builder.create<pwrt::P2PGroupOp>(loc, stream);
          group.getBody().push_back(new Block());
          OpBuilder::InsertionGuard groupGuard(builder);
          builder.setInsertionPointToEnd(&group.getBody().front());
          for (const lower::Transfer &t : op.transfers) {
            pwrt::Payload payload = t.payload == schedule::Payload::Activation
                                        ? pwrt::Payload::Activation
                                        : pwrt::Payload::Gradient;
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
