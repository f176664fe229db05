//===- RuntimeCalls.cpp - pwrt ops as runtime calls -----------------------===//

#include "passes/Transforms/RuntimeCalls.h"

#include "llvm/ADT/StringExtras.h"

#include <set>

using namespace mlir;
using namespace pipeweave;

std::string pipeweave::kernelListOf(pwrt::ProgramOp program) {
  std::set<std::string> names;
  program.walk(
      [&](pwrt::LaunchOp launch) { names.insert(launch.getKernel().str()); });
  return llvm::join(names, ",");
}

static int32_t kindCode(StringRef kind) {
  return llvm::StringSwitch<int32_t>(kind)
      .Case("forward", 0)
      .Case("backward_input", 1)
      .Case("backward_weight", 2)
      .Case("backward", 3)
      .Default(4); // loss
}

static CallArg i32(int64_t value) { return {CallArg::I32, value, {}}; }
static CallArg i64(int64_t value) { return {CallArg::I64, value, {}}; }
static CallArg str(std::string text) { return {CallArg::String, 0, text}; }

std::vector<RuntimeCall> pipeweave::runtimeCallsOf(pwrt::ProgramOp program,
                                                   pwrt::RankOp rank,
                                                   StringRef kernelList) {
  llvm::SmallVector<StringRef> kernels;
  kernelList.split(kernels, ',', -1, false);

  // Streams and events are numbered in order of definition.
  llvm::DenseMap<Value, int64_t> numberOf;
  int64_t streams = 0, events = 0;
  for (Operation &op : rank.getBody().front()) {
    if (auto stream = dyn_cast<pwrt::StreamOp>(op))
      numberOf[stream] = streams++;
    if (auto record = dyn_cast<pwrt::RecordOp>(op))
      numberOf[record] = events++;
  }

  std::vector<RuntimeCall> calls;
  calls.push_back({"pwrt_cg_rank_begin",
                   {str(program.getSymName().str()), i32(program.getRanks()),
                    i32(rank.getRank()), i64(rank.getPool()), i32(events),
                    str(kernelList.str())},
                   ""});
  auto slotArgs = [](DictionaryAttr buffers, StringRef role,
                     std::vector<CallArg> &args) {
    auto slot = buffers.getAs<DenseI64ArrayAttr>(role);
    args.push_back(i64(slot ? slot[0] : -1));
    args.push_back(i64(slot ? slot[1] : 0));
  };
  for (Operation &op : rank.getBody().front()) {
    if (auto launch = dyn_cast<pwrt::LaunchOp>(op)) {
      int64_t kernel =
          llvm::find(kernels, launch.getKernel()) - kernels.begin();
      int32_t kind = kindCode(launch.getKind());
      std::vector<CallArg> args = {i32(numberOf[launch.getStream()]),
                                   i32(kernel), i32(kind),
                                   i32(launch.getStage()), i32(launch.getMb())};
      // Positions by kind, as pwrt_codegen.h documents.
      DictionaryAttr buffers = launch.getBuffers();
      bool forward = kind == 0, loss = kind == 4;
      StringRef in0 = forward || loss ? "input" : "grad_output";
      StringRef in1 = forward || loss ? "" : "saved";
      StringRef out0 = forward ? "output" : loss ? "grad_output" : "grad_input";
      StringRef out1 = forward ? "saved" : "";
      for (StringRef role : {in0, in1, out0, out1})
        slotArgs(buffers, role, args);
      calls.push_back(
          {"pwrt_cg_launch", args,
           (launch.getKind() + " stage " + Twine(launch.getStage()) + " mb " +
            Twine(launch.getMb()) + ": " + launch.getKernel())
               .str()});
    } else if (auto record = dyn_cast<pwrt::RecordOp>(op)) {
      calls.push_back({"pwrt_cg_record",
                       {i32(numberOf[record.getStream()]),
                        i32(numberOf[record.getEvent()])},
                       ""});
    } else if (auto wait = dyn_cast<pwrt::WaitOp>(op)) {
      calls.push_back(
          {"pwrt_cg_wait",
           {i32(numberOf[wait.getStream()]), i32(numberOf[wait.getEvent()])},
           ""});
    } else if (auto group = dyn_cast<pwrt::P2PGroupOp>(op)) {
      int64_t stream = numberOf[group.getStream()];
      calls.push_back({"pwrt_cg_group_begin", {i32(stream)}, ""});
      for (Operation &transfer : group.getBody().front()) {
        auto emit = [&](auto t, StringRef callee) {
          calls.push_back(
              {callee.str(),
               {i32(stream), i32(t.getPeer()), i32(t.getTag()),
                i32(t.getPayload() == "activation" ? 0 : 1), i32(t.getStage()),
                i32(t.getMb()), i64(t.getOffset()), i64(t.getBytes())},
               ""});
        };
        if (auto send = dyn_cast<pwrt::SendOp>(transfer))
          emit(send, "pwrt_cg_send");
        else if (auto recv = dyn_cast<pwrt::RecvOp>(transfer))
          emit(recv, "pwrt_cg_recv");
      }
      calls.push_back({"pwrt_cg_group_end", {i32(stream)}, ""});
    }
  }
  calls.push_back({"pwrt_cg_rank_end", {}, ""});
  return calls;
}
