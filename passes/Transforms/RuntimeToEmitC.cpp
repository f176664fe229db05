//===- RuntimeToEmitC.cpp - pwrt.program -> EmitC functions ---------------===//

#include "passes/Transforms/Passes.h"
#include "passes/Transforms/RuntimeCalls.h"

#include "mlir/IR/Builders.h"

namespace pipeweave {
#define GEN_PASS_DEF_RUNTIMETOEMITC
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct RuntimeToEmitCPass
    : pipeweave::impl::RuntimeToEmitCBase<RuntimeToEmitCPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto programs = llvm::to_vector(module.getOps<pwrt::ProgramOp>());
    if (programs.empty())
      return;
    OpBuilder builder(module.getBodyRegion());
    builder.create<emitc::IncludeOp>(module.getLoc(), "pwrt/pwrt_codegen.h",
                                     /*is_standard_include=*/false);
    for (pwrt::ProgramOp program : programs) {
      builder.setInsertionPoint(program);
      lower(builder, program);
      program.erase();
    }
  }

  static void lower(OpBuilder &builder, pwrt::ProgramOp program) {
    MLIRContext *context = builder.getContext();
    Location loc = program.getLoc();
    Type ctxType = emitc::PointerType::get(
        emitc::OpaqueType::get(context, "pwrt_context"));
    Type statusType = emitc::OpaqueType::get(context, "pwrt_status");
    Type i32 = builder.getI32Type();
    StringRef name = program.getSymName();
    auto specifiers = [&](ArrayRef<StringRef> words) {
      SmallVector<Attribute> attrs;
      for (StringRef word : words)
        attrs.push_back(builder.getStringAttr(word));
      return builder.getArrayAttr(attrs);
    };

    // One function per rank: its whole step as runtime calls.
    SmallVector<emitc::FuncOp> rankFunctions;
    std::string kernels = kernelListOf(program);
    for (pwrt::RankOp rank : program.getBody().getOps<pwrt::RankOp>()) {
      auto function = builder.create<emitc::FuncOp>(
          rank.getLoc(), (name + "_rank" + Twine(rank.getRank())).str(),
          builder.getFunctionType({ctxType}, {}));
      function.setSpecifiersAttr(specifiers({"static"}));
      Block *body = function.addEntryBlock();
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToEnd(body);
      Value ctx = body->getArgument(0);
      for (const RuntimeCall &call : runtimeCallsOf(program, rank, kernels)) {
        if (!call.comment.empty())
          builder.create<emitc::VerbatimOp>(rank.getLoc(),
                                            "// " + call.comment);
        SmallVector<Attribute> args = {builder.getIndexAttr(0)};
        for (const CallArg &arg : call.args) {
          if (arg.kind == CallArg::String)
            args.push_back(
                emitc::OpaqueAttr::get(context, "\"" + arg.text + "\""));
          else if (arg.kind == CallArg::I32)
            args.push_back(builder.getI32IntegerAttr(arg.value));
          else
            args.push_back(builder.getI64IntegerAttr(arg.value));
        }
        builder.create<emitc::CallOpaqueOp>(
            rank.getLoc(), TypeRange{}, call.callee, ValueRange{ctx},
            builder.getArrayAttr(args), ArrayAttr());
      }
      builder.create<emitc::ReturnOp>(rank.getLoc(), Value());
      rankFunctions.push_back(function);
    }

    // NAME_step: run this process's rank, then report the step's outcome.
    auto step = builder.create<emitc::FuncOp>(
        loc, (name + "_step").str(),
        builder.getFunctionType({ctxType}, {statusType}));
    step.setSpecifiersAttr(specifiers({"extern \"C\""}));
    {
      Block *body = step.addEntryBlock();
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToEnd(body);
      Value ctx = body->getArgument(0);
      Value rank = builder
                       .create<emitc::CallOpaqueOp>(
                           loc, TypeRange{i32}, "pwrt_rank", ValueRange{ctx})
                       .getResult(0);
      for (auto [index, function] : llvm::enumerate(rankFunctions)) {
        Value constant = builder.create<emitc::ConstantOp>(
            loc, i32, builder.getI32IntegerAttr(index));
        Value isRank = builder.create<emitc::CmpOp>(
            loc, builder.getI1Type(), emitc::CmpPredicate::eq, rank, constant);
        auto ifOp = builder.create<emitc::IfOp>(loc, isRank,
                                                /*addThenBlock=*/false,
                                                /*addElseBlock=*/false);
        Block *then = builder.createBlock(&ifOp.getThenRegion());
        builder.create<emitc::CallOp>(loc, function, ValueRange{ctx});
        builder.create<emitc::YieldOp>(loc);
        builder.setInsertionPointAfter(ifOp);
        (void)then;
      }
      SmallVector<Attribute> args = {
          builder.getIndexAttr(0),
          emitc::OpaqueAttr::get(context, ("\"" + name + "\"").str()),
          builder.getI32IntegerAttr(program.getRanks())};
      Value result =
          builder
              .create<emitc::CallOpaqueOp>(
                  loc, TypeRange{statusType}, "pwrt_cg_result", ValueRange{ctx},
                  builder.getArrayAttr(args), ArrayAttr())
              .getResult(0);
      builder.create<emitc::ReturnOp>(loc, result);
    }

    // NAME_num_ranks: what the program was compiled for.
    auto numRanks = builder.create<emitc::FuncOp>(
        loc, (name + "_num_ranks").str(), builder.getFunctionType({}, {i32}));
    numRanks.setSpecifiersAttr(specifiers({"extern \"C\""}));
    Block *body = numRanks.addEntryBlock();
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToEnd(body);
    Value ranks = builder.create<emitc::ConstantOp>(
        loc, i32, builder.getI32IntegerAttr(program.getRanks()));
    builder.create<emitc::ReturnOp>(loc, ranks);
  }
};
} // namespace
