//===- RuntimeToLLVM.cpp - pwrt.program -> LLVM dialect functions ---------===//

#include "passes/Transforms/Passes.h"
#include "passes/Transforms/RuntimeCalls.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"

namespace pipeweave {
#define GEN_PASS_DEF_RUNTIMETOLLVM
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
class LLVMEmitter {
public:
  LLVMEmitter(ModuleOp module, int64_t tableThreshold)
      : module(module), builder(module.getContext()),
        tableThreshold(tableThreshold),
        ptr(LLVM::LLVMPointerType::get(module.getContext())),
        i32(builder.getI32Type()), i64(builder.getI64Type()) {}

  void lower(pwrt::ProgramOp program) {
    Location loc = program.getLoc();
    StringRef name = program.getSymName();
    SmallVector<LLVM::LLVMFuncOp> rankFunctions;
    std::vector<std::string> kernels = kernelsOf(program);
    std::string kernelList = llvm::join(kernels, ",");
    std::vector<std::string> allToAlls = allToAllsOf(program);
    std::string allToAllList = llvm::join(allToAlls, ",");
    int32_t expertParallel = expertParallelOf(program);
    bool tables = usesTables(program, tableThreshold);
    // Each rank is erased once lowered, while its ops are still in cache.
    for (pwrt::RankOp rank :
         llvm::make_early_inc_range(program.getBody().getOps<pwrt::RankOp>())) {
      std::string functionName = (name + "_rank" + Twine(rank.getRank())).str();
      RankCalls rankCalls = runtimeCallsOf(rank, kernels, allToAlls);
      auto function = createFunction(functionName, {ptr}, {},
                                     LLVM::Linkage::Internal, rank.getLoc());
      Block *body = function.addEntryBlock(builder);
      builder.setInsertionPointToEnd(body);
      Value ctx = body->getArgument(0);
      constants.clear();
      Location rankLoc = rank.getLoc();
      if (expertParallel > 1 || !allToAlls.empty())
        call(rankLoc, "pwrt_cg_expert_parallel", {},
             {ctx, constant(rankLoc, i32, expertParallel),
              stringAddress(rankLoc, allToAllList)});
      call(rankLoc, "pwrt_cg_rank_begin", {},
           {ctx, stringAddress(rankLoc, name),
            constant(rankLoc, i32, program.getRanks()),
            constant(rankLoc, i32, rank.getRank()),
            constant(rankLoc, i64, rank.getPool()),
            constant(rankLoc, i32, rankCalls.numEvents),
            stringAddress(rankLoc, kernelList)});
      if (tables) {
        CallTable table = tableOf(rankCalls.calls);
        if (table.numRecords() > 0)
          runTable(rankLoc, ctx, functionName, table);
      } else {
        for (const RuntimeCall &runtimeCall : rankCalls.calls) {
          SmallVector<Value> operands = {ctx};
          for (const CallArg &arg : argumentsOf(runtimeCall))
            operands.push_back(constant(
                rankLoc, arg.kind == CallArg::I32 ? i32 : i64, arg.value));
          call(rankLoc, calleeOf(runtimeCall), {}, operands);
        }
      }
      call(rankLoc, "pwrt_cg_rank_end", {}, {ctx});
      builder.create<LLVM::ReturnOp>(rankLoc, ValueRange{});
      rankFunctions.push_back(function);
      rank.erase();
    }

    // NAME_step: branch to this process's rank function, then report.
    auto step = createFunction((name + "_step").str(), {ptr}, {i32},
                               LLVM::Linkage::External, loc);
    Block *entry = step.addEntryBlock(builder);
    Value ctx = entry->getArgument(0);
    constants.clear();
    builder.setInsertionPointToEnd(entry);
    // With expert parallelism, process p runs pipeline rank p / E.
    Value rank =
        expertParallel > 1
            ? call(loc, "pwrt_cg_pipeline_rank", {i32},
                   {ctx,
                    builder.create<LLVM::ConstantOp>(
                        loc, i32, builder.getI32IntegerAttr(expertParallel))})
                  .front()
            : call(loc, "pwrt_rank", {i32}, {ctx}).front();
    for (auto [index, function] : llvm::enumerate(rankFunctions)) {
      Block *callBlock = step.addBlock();
      Block *next = step.addBlock();
      Value constant = builder.create<LLVM::ConstantOp>(
          loc, i32, builder.getI32IntegerAttr(index));
      Value isRank = builder.create<LLVM::ICmpOp>(loc, LLVM::ICmpPredicate::eq,
                                                  rank, constant);
      builder.create<LLVM::CondBrOp>(loc, isRank, callBlock, next);
      builder.setInsertionPointToEnd(callBlock);
      builder.create<LLVM::CallOp>(loc, function, ValueRange{ctx});
      builder.create<LLVM::BrOp>(loc, next);
      builder.setInsertionPointToEnd(next);
    }
    Value result =
        call(loc, "pwrt_cg_result", {i32},
             {ctx, stringAddress(loc, name),
              builder.create<LLVM::ConstantOp>(
                  loc, i32, builder.getI32IntegerAttr(program.getRanks()))})
            .front();
    builder.create<LLVM::ReturnOp>(loc, result);

    auto numRanks = createFunction((name + "_num_ranks").str(), {}, {i32},
                                   LLVM::Linkage::External, loc);
    builder.setInsertionPointToEnd(numRanks.addEntryBlock(builder));
    Value ranks = builder.create<LLVM::ConstantOp>(
        loc, i32, builder.getI32IntegerAttr(program.getRanks()));
    builder.create<LLVM::ReturnOp>(loc, ranks);
  }

private:
  LLVM::LLVMFuncOp createFunction(StringRef name, ArrayRef<Type> arguments,
                                  ArrayRef<Type> results, LLVM::Linkage linkage,
                                  Location loc) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToEnd(module.getBody());
    Type result = results.empty() ? LLVM::LLVMVoidType::get(module.getContext())
                                  : results.front();
    return builder.create<LLVM::LLVMFuncOp>(
        loc, name, LLVM::LLVMFunctionType::get(result, arguments), linkage);
  }

  /// An internal constant global `name` holding `values`.
  template <typename T>
  LLVM::GlobalOp createTable(Location loc, StringRef name, Type element,
                             ArrayRef<T> values) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(module.getBody());
    int64_t size = values.size();
    auto init =
        DenseElementsAttr::get(RankedTensorType::get({size}, element), values);
    return builder.create<LLVM::GlobalOp>(
        loc, LLVM::LLVMArrayType::get(element, size), /*isConstant=*/true,
        LLVM::Linkage::Internal, name, init);
  }

  /// pwrt_cg_run(ctx, NAME_calls, records, NAME_slots or null, slots)
  void runTable(Location loc, Value ctx, StringRef function,
                const CallTable &table) {
    LLVM::GlobalOp records = createTable(loc, (function + "_calls").str(), i32,
                                         ArrayRef<int32_t>(table.records));
    Value slots;
    if (table.numSlots() > 0)
      slots = builder.create<LLVM::AddressOfOp>(
          loc, createTable(loc, (function + "_slots").str(), i64,
                           ArrayRef<int64_t>(table.slots)));
    else
      slots = builder.create<LLVM::ZeroOp>(loc, ptr);
    call(loc, "pwrt_cg_run", {},
         {ctx, builder.create<LLVM::AddressOfOp>(loc, records),
          constant(loc, i64, table.numRecords()), slots,
          constant(loc, i64, table.numSlots())});
  }

  /// The address of a NUL-terminated copy of `text` (one global per text).
  Value stringAddress(Location loc, StringRef text) {
    auto [it, inserted] = strings.try_emplace(text, LLVM::GlobalOp());
    if (inserted) {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(module.getBody());
      std::string bytes = text.str();
      bytes.push_back('\0');
      auto type = LLVM::LLVMArrayType::get(builder.getI8Type(), bytes.size());
      it->second = builder.create<LLVM::GlobalOp>(
          loc, type, /*isConstant=*/true, LLVM::Linkage::Internal,
          ("pw_str" + Twine(strings.size() - 1)).str(),
          builder.getStringAttr(bytes));
    }
    return builder.create<LLVM::AddressOfOp>(loc, it->second);
  }

  /// One constant per value and type in each function, at its entry: rank
  /// functions make thousands of calls with few distinct arguments.
  Value constant(Location loc, Type type, int64_t value) {
    auto key = std::make_pair(type, value);
    auto it = constants.find(key);
    if (it != constants.end())
      return it->second;
    Block *entry = &builder.getInsertionBlock()->getParent()->front();
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(entry);
    Value result = builder.create<LLVM::ConstantOp>(
        loc, type, builder.getIntegerAttr(type, value));
    constants[key] = result;
    return result;
  }

  /// callee(operands...), declaring callee on first use.
  ValueRange call(Location loc, StringRef callee, ArrayRef<Type> results,
                  ArrayRef<Value> operands) {
    LLVM::LLVMFuncOp &function = functions[callee];
    if (!function)
      function = module.lookupSymbol<LLVM::LLVMFuncOp>(callee);
    if (!function) {
      SmallVector<Type> types;
      for (Value operand : operands)
        types.push_back(operand.getType());
      function =
          createFunction(callee, types, results, LLVM::Linkage::External, loc);
    }
    return builder.create<LLVM::CallOp>(loc, function, operands).getResults();
  }

  ModuleOp module;
  OpBuilder builder;
  int64_t tableThreshold;
  Type ptr, i32, i64;
  llvm::StringMap<LLVM::GlobalOp> strings;
  llvm::StringMap<LLVM::LLVMFuncOp> functions; // declared callees
  llvm::DenseMap<std::pair<Type, int64_t>, Value> constants;
};

struct RuntimeToLLVMPass
    : pipeweave::impl::RuntimeToLLVMBase<RuntimeToLLVMPass> {
  using RuntimeToLLVMBase::RuntimeToLLVMBase;

  void runOnOperation() override {
    LLVMEmitter emitter(getOperation(), tableThreshold);
    for (pwrt::ProgramOp program :
         llvm::make_early_inc_range(getOperation().getOps<pwrt::ProgramOp>())) {
      emitter.lower(program);
      program.erase();
    }
  }
};
} // namespace
