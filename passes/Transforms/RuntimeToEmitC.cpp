//===- RuntimeToEmitC.cpp - pwrt.program -> EmitC functions ---------------===//

#include "passes/Transforms/Passes.h"
#include "passes/Transforms/RuntimeCalls.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"

namespace pipeweave {
#define GEN_PASS_DEF_RUNTIMETOEMITC
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
/// `text` as a C string literal.
std::string cString(StringRef text) {
  std::string literal = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      literal += '\\';
      literal += c;
    } else if (llvm::isPrint(c)) {
      literal += c;
    } else {
      literal += "\\";
      literal += '0' + ((c >> 6) & 3);
      literal += '0' + ((c >> 3) & 7);
      literal += '0' + (c & 7);
    }
  }
  return literal + "\"";
}

class EmitCLowering {
public:
  EmitCLowering(OpBuilder &builder, int64_t tableThreshold)
      : builder(builder), context(builder.getContext()),
        tableThreshold(tableThreshold),
        ctxType(emitc::PointerType::get(
            emitc::OpaqueType::get(context, "pwrt_context"))),
        statusType(emitc::OpaqueType::get(context, "pwrt_status")),
        i32(builder.getI32Type()), i64(builder.getI64Type()) {}

  void lower(pwrt::ProgramOp program) {
    Location loc = program.getLoc();
    StringRef name = program.getSymName();
    std::vector<std::string> kernels = kernelsOf(program);
    std::string kernelList = llvm::join(kernels, ",");
    std::vector<std::string> allToAlls = allToAllsOf(program);
    std::string allToAllList = llvm::join(allToAlls, ",");
    int32_t expertParallel = expertParallelOf(program);
    bool tables = usesTables(program, tableThreshold);

    // One function per rank: its whole step as runtime calls.
    SmallVector<emitc::FuncOp> rankFunctions;
    // Each rank is erased once lowered, while its ops are still in cache.
    for (pwrt::RankOp rank :
         llvm::make_early_inc_range(program.getBody().getOps<pwrt::RankOp>())) {
      std::string function = (name + "_rank" + Twine(rank.getRank())).str();
      RankCalls rankCalls = runtimeCallsOf(rank, kernels, allToAlls);
      std::optional<CallTable> table;
      if (tables)
        table = tableOf(rankCalls.calls);
      // The tables go before the function that reads them.
      emitc::GlobalOp records, slots;
      if (table && table->numRecords() > 0) {
        builder.create<emitc::VerbatimOp>(
            rank.getLoc(), ("// Rank " + Twine(rank.getRank()) + ": " +
                            Twine(table->numRecords()) +
                            " runtime calls as records of "
                            "PWRT_CG_RECORD_WIDTH fields (pwrt_codegen.h).")
                               .str());
        records = createTable(rank.getLoc(), function + "_calls", i32,
                              table->records.size(),
                              recordsInitializer(*table, kernels));
        if (table->numSlots() > 0)
          slots = createTable(rank.getLoc(), function + "_slots", i64,
                              table->slots.size(), slotsInitializer(*table));
      }

      auto func = builder.create<emitc::FuncOp>(
          rank.getLoc(), function, builder.getFunctionType({ctxType}, {}));
      func.setSpecifiersAttr(specifiers({"static"}));
      Block *body = func.addEntryBlock();
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToEnd(body);
      Value ctx = body->getArgument(0);
      if (expertParallel > 1 || !allToAlls.empty())
        call(rank.getLoc(), "pwrt_cg_expert_parallel", ctx,
             {builder.getI32IntegerAttr(expertParallel),
              opaque(cString(allToAllList))});
      call(rank.getLoc(), "pwrt_cg_rank_begin", ctx,
           {opaque(cString(name)),
            builder.getI32IntegerAttr(program.getRanks()),
            builder.getI32IntegerAttr(rank.getRank()),
            builder.getI64IntegerAttr(rank.getPool()),
            builder.getI32IntegerAttr(rankCalls.numEvents),
            opaque(cString(kernelList))});
      if (table) {
        if (records)
          runTable(rank.getLoc(), ctx, records, slots, *table);
      } else {
        for (const RuntimeCall &runtimeCall : rankCalls.calls)
          flatCall(rank.getLoc(), ctx, runtimeCall);
      }
      call(rank.getLoc(), "pwrt_cg_rank_end", ctx, {});
      builder.create<emitc::ReturnOp>(rank.getLoc(), Value());
      rankFunctions.push_back(func);
      rank.erase();
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
      // With expert parallelism, process p runs pipeline rank p / E.
      Value rank =
          expertParallel > 1
              ? builder
                    .create<emitc::CallOpaqueOp>(
                        loc, TypeRange{i32}, "pwrt_cg_pipeline_rank",
                        ValueRange{ctx},
                        builder.getArrayAttr(
                            {builder.getIndexAttr(0),
                             builder.getI32IntegerAttr(expertParallel)}),
                        ArrayAttr())
                    .getResult(0)
              : builder
                    .create<emitc::CallOpaqueOp>(loc, TypeRange{i32},
                                                 "pwrt_rank", ValueRange{ctx})
                    .getResult(0);
      for (auto [index, function] : llvm::enumerate(rankFunctions)) {
        Value constant = builder.create<emitc::ConstantOp>(
            loc, i32, builder.getI32IntegerAttr(index));
        Value isRank = builder.create<emitc::CmpOp>(
            loc, builder.getI1Type(), emitc::CmpPredicate::eq, rank, constant);
        auto ifOp = builder.create<emitc::IfOp>(loc, isRank,
                                                /*addThenBlock=*/false,
                                                /*addElseBlock=*/false);
        builder.createBlock(&ifOp.getThenRegion());
        builder.create<emitc::CallOp>(loc, function, ValueRange{ctx});
        builder.create<emitc::YieldOp>(loc);
        builder.setInsertionPointAfter(ifOp);
      }
      Value result =
          builder
              .create<emitc::CallOpaqueOp>(
                  loc, TypeRange{statusType}, "pwrt_cg_result", ValueRange{ctx},
                  builder.getArrayAttr(
                      {builder.getIndexAttr(0), opaque(cString(name)),
                       builder.getI32IntegerAttr(program.getRanks())}),
                  ArrayAttr())
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

private:
  ArrayAttr specifiers(ArrayRef<StringRef> words) {
    SmallVector<Attribute> attrs;
    for (StringRef word : words)
      attrs.push_back(builder.getStringAttr(word));
    return builder.getArrayAttr(attrs);
  }

  Attribute opaque(StringRef text) {
    return emitc::OpaqueAttr::get(context, text);
  }

  /// `static const T NAME[size] = initializer;`
  emitc::GlobalOp createTable(Location loc, StringRef name, Type element,
                              int64_t size, StringRef initializer) {
    auto arrayType = emitc::ArrayType::get({size}, element);
    return builder.create<emitc::GlobalOp>(
        loc, name, arrayType, opaque(initializer),
        /*extern_specifier=*/false, /*static_specifier=*/true,
        /*const_specifier=*/true);
  }

  /// pwrt_cg_run(ctx, NAME_calls, records, NAME_slots or nullptr, slots);
  void runTable(Location loc, Value ctx, emitc::GlobalOp records,
                emitc::GlobalOp slots, const CallTable &table) {
    SmallVector<Value> operands = {ctx, getGlobal(loc, records)};
    SmallVector<Attribute> args = {
        builder.getIndexAttr(0), builder.getIndexAttr(1),
        builder.getI64IntegerAttr(table.numRecords())};
    if (slots) {
      operands.push_back(getGlobal(loc, slots));
      args.push_back(builder.getIndexAttr(2));
    } else {
      args.push_back(opaque("nullptr"));
    }
    args.push_back(builder.getI64IntegerAttr(table.numSlots()));
    builder.create<emitc::CallOpaqueOp>(loc, TypeRange{}, "pwrt_cg_run",
                                        operands, builder.getArrayAttr(args),
                                        ArrayAttr());
  }

  Value getGlobal(Location loc, emitc::GlobalOp global) {
    return builder.create<emitc::GetGlobalOp>(loc, global.getType(),
                                              global.getSymName());
  }

  void flatCall(Location loc, Value ctx, const RuntimeCall &runtimeCall) {
    std::string comment = commentOf(runtimeCall);
    if (!comment.empty())
      builder.create<emitc::VerbatimOp>(loc, "// " + comment);
    SmallVector<Attribute> args;
    for (const CallArg &arg : argumentsOf(runtimeCall))
      args.push_back(arg.kind == CallArg::I32
                         ? builder.getI32IntegerAttr(arg.value)
                         : builder.getI64IntegerAttr(arg.value));
    call(loc, calleeOf(runtimeCall), ctx, args);
  }

  /// callee(ctx, args...);
  void call(Location loc, StringRef callee, Value ctx,
            ArrayRef<Attribute> args) {
    SmallVector<Attribute> all = {builder.getIndexAttr(0)};
    all.append(args.begin(), args.end());
    builder.create<emitc::CallOpaqueOp>(loc, TypeRange{}, callee,
                                        ValueRange{ctx},
                                        builder.getArrayAttr(all), ArrayAttr());
  }

  OpBuilder &builder;
  MLIRContext *context;
  int64_t tableThreshold;
  Type ctxType, statusType, i32, i64;
};

struct RuntimeToEmitCPass
    : pipeweave::impl::RuntimeToEmitCBase<RuntimeToEmitCPass> {
  using RuntimeToEmitCBase::RuntimeToEmitCBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto programs = llvm::to_vector(module.getOps<pwrt::ProgramOp>());
    if (programs.empty())
      return;
    OpBuilder builder(module.getBodyRegion());
    builder.create<emitc::IncludeOp>(module.getLoc(), "pwrt/pwrt_codegen.h",
                                     /*is_standard_include=*/false);
    EmitCLowering lowering(builder, tableThreshold);
    for (pwrt::ProgramOp program : programs) {
      builder.setInsertionPoint(program);
      lowering.lower(program);
      program.erase();
    }
  }
};
} // namespace
