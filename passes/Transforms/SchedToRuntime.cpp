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

template <typename TransferOp>
typename TransferOp::Properties transferProperties(const lower::Transfer &t) {
  typename TransferOp::Properties properties;
  properties.payload = t.payload == schedule::Payload::Activation
                           ? pwrt::Payload::Activation
                           : pwrt::Payload::Gradient;
  properties.stage = t.stage;
  properties.mb = t.microbatch;
  properties.peer = t.peer;
  properties.tag = t.tag;
  properties.offset = t.slot.offset;
  properties.bytes = t.slot.bytes;
  return properties;
}

/// Makes the ops a rank has hundreds of thousands of straight from their
/// operands and properties: going through an OperationState costs about as
/// much as the op itself.
class OpMaker {
public:
  explicit OpMaker(MLIRContext *context)
      : noAttributes(DictionaryAttr::get(context)),
        launch(nameOf<pwrt::LaunchOp>(context)),
        send(nameOf<pwrt::SendOp>(context)),
        recv(nameOf<pwrt::RecvOp>(context)),
        record(nameOf<pwrt::RecordOp>(context)),
        allToAll(nameOf<pwrt::AllToAllOp>(context)),
        wait(nameOf<pwrt::WaitOp>(context)) {}

  /// Appends an op named `name` to `block`.
  template <typename Properties>
  Operation *append(Block &block, Location loc, OperationName name,
                    TypeRange results, ValueRange operands,
                    Properties &properties) {
    Operation *op = Operation::create(
        loc, name, results, operands, noAttributes,
        OpaqueProperties(&properties), BlockRange(), /*numRegions=*/0);
    block.push_back(op);
    return op;
  }
  Operation *append(Block &block, Location loc, OperationName name,
                    TypeRange results, ValueRange operands) {
    Operation *op =
        Operation::create(loc, name, results, operands, noAttributes,
                          OpaqueProperties(nullptr), BlockRange(), 0);
    block.push_back(op);
    return op;
  }

  DictionaryAttr noAttributes;
  OperationName launch, send, recv, record, allToAll, wait;

private:
  template <typename OpT> static OperationName nameOf(MLIRContext *context) {
    return *RegisteredOperationName::lookup(TypeID::get<OpT>(), context);
  }
};

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
        program.getLoc(), program.getSymName(), program.getRanks(),
        value->costs->expertParallel > 1
            ? builder.getI64IntegerAttr(value->costs->expertParallel)
            : IntegerAttr());
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
    OpMaker make(context);
    // One rank at a time: its lowered form is used up before the next.
    lower::RuntimeLowering lowering(value->schedule, *value->costs);
    lower::RankProgram rankProgram;
    lower::PairPlans pairPlans;
    for (int index = 0; index < value->schedule.numRanks; ++index) {
      pairPlans.assign(value->actionOps[index].size(), {});
      for (auto [action, op] : llvm::enumerate(value->actionOps[index])) {
        auto pair = dyn_cast_or_null<sched::OverlapOp>(op);
        if (!pair)
          continue;
        pair->walk([&](sched::ComponentOp item) {
          pairPlans[action].push_back(
              {static_cast<lower::ComponentPhase>(item.getPhase()),
               item.getComponent().str(), static_cast<int>(item.getLayer()),
               item.getStream() == sched::Stream::Comm ? lower::CommStream
                                                       : lower::ComputeStream});
        });
      }
      if (std::optional<lower::LoweringError> error =
              lowering.lowerRank(index, rankProgram, &pairPlans)) {
        runtime.erase();
        Operation *at =
            error->action >= 0 ? value->opAt(index, error->action) : nullptr;
        return (at ? at->emitError() : program.emitError())
               << "cannot lower @" << program.getSymName()
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
      Block &body = rank.getBody().front();
      for (const lower::RuntimeOp &op : rankProgram.ops) {
        Value stream = streams[op.stream];
        switch (op.kind) {
        case lower::RuntimeOp::LaunchKernel: {
          pwrt::LaunchOp::Properties properties;
          for (const lower::KernelBuffer &buffer : op.launch.buffers)
            properties.buffers.set(roleOf(buffer.role),
                                   {buffer.slot.offset, buffer.slot.bytes});
          StringAttr &kernel = kernelNames[op.launch.kernel];
          if (!kernel)
            kernel = builder.getStringAttr(op.launch.kernel);
          properties.kind = kindOf(op.launch.kind);
          properties.kernel = kernel;
          properties.stage = op.launch.stage;
          properties.mb = op.launch.microbatch;
          properties.layer = op.launch.layer;
          make.append(body, loc, make.launch, {}, stream, properties);
          break;
        }
        case lower::RuntimeOp::AllToAllExchange: {
          const lower::AllToAll &exchange = op.allToAll;
          pwrt::AllToAllOp::Properties properties;
          StringAttr &name = kernelNames[exchange.component];
          if (!name)
            name = builder.getStringAttr(exchange.component);
          properties.component = name;
          properties.kind = exchange.forward ? pwrt::LaunchKind::Forward
                                             : pwrt::LaunchKind::Backward;
          properties.stage = exchange.stage;
          properties.mb = exchange.microbatch;
          properties.layer = exchange.layer;
          properties.send_offset = exchange.send.offset;
          properties.send_bytes = exchange.send.bytes;
          properties.recv_offset = exchange.recv.offset;
          properties.recv_bytes = exchange.recv.bytes;
          properties.row_bytes = exchange.rowBytes;
          make.append(body, loc, make.allToAll, {}, stream, properties);
          break;
        }
        case lower::RuntimeOp::TransferGroup: {
          auto group = builder.create<pwrt::P2PGroupOp>(loc, stream);
          group.getBody().push_back(new Block());
          Block &transfers = group.getBody().front();
          for (const lower::Transfer &t : op.transfers) {
            if (t.isSend) {
              auto properties = transferProperties<pwrt::SendOp>(t);
              make.append(transfers, loc, make.send, {}, {}, properties);
            } else {
              auto properties = transferProperties<pwrt::RecvOp>(t);
              make.append(transfers, loc, make.recv, {}, {}, properties);
            }
          }
          break;
        }
        case lower::RuntimeOp::RecordEvent:
          events[op.event] =
              make.append(body, loc, make.record, eventType, stream)
                  ->getResult(0);
          break;
        case lower::RuntimeOp::WaitEvent:
          make.append(body, loc, make.wait, {}, {stream, events[op.event]});
          break;
        }
      }
    }
    program.erase();
    return success();
  }
};
} // namespace
