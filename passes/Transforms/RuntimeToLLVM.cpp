//===- RuntimeToLLVM.cpp - pwrt.program -> LLVM dialect functions ---------===//

#include "passes/Transforms/Passes.h"
#include "passes/Transforms/RuntimeCalls.h"

#include "mlir/IR/Builders.h"

namespace pipeweave {
#define GEN_PASS_DEF_RUNTIMETOLLVM
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
class LLVMEmitter {
public:
  explicit LLVMEmitter(ModuleOp module)
      : module(module), builder(module.getContext()),
        ptr(LLVM::LLVMPointerType::get(module.getContext())),
        i32(builder.getI32Type()), i64(builder.getI64Type()) {}

  void lower(pwrt::ProgramOp program) {
    Location loc = program.getLoc();
    StringRef name = program.getSymName();
    SmallVector<LLVM::LLVMFuncOp> rankFunctions;
    std::string kernels = kernelListOf(program);
    for (pwrt::RankOp rank : program.getBody().getOps<pwrt::RankOp>()) {
      auto function =
          createFunction((name + "_rank" + Twine(rank.getRank())).str(), {ptr},
                         {}, LLVM::Linkage::Internal, rank.getLoc());
      Block *body = function.addEntryBlock(builder);
      builder.setInsertionPointToEnd(body);
      Value ctx = body->getArgument(0);
      constants.clear();
      for (const RuntimeCall &call : runtimeCallsOf(program, rank, kernels))
        emitCall(rank.getLoc(), call, ctx, {});
      builder.create<LLVM::ReturnOp>(rank.getLoc(), ValueRange{});
      rankFunctions.push_back(function);
    }

    // NAME_step: branch to this process's rank function, then report.
    auto step = createFunction((name + "_step").str(), {ptr}, {i32},
                               LLVM::Linkage::External, loc);
    Block *entry = step.addEntryBlock(builder);
    Value ctx = entry->getArgument(0);
    constants.clear();
    builder.setInsertionPointToEnd(entry);
    Value rank =
        emitCall(loc, RuntimeCall{"pwrt_rank", {}, ""}, ctx, {i32}).front();
    for (auto [index, function] : llvm::enumerate(rankFunctions)) {
      Block *call = step.addBlock();
      Block *next = step.addBlock();
      Value constant = builder.create<LLVM::ConstantOp>(
          loc, i32, builder.getI32IntegerAttr(index));
      Value isRank = builder.create<LLVM::ICmpOp>(loc, LLVM::ICmpPredicate::eq,
                                                  rank, constant);
      builder.create<LLVM::CondBrOp>(loc, isRank, call, next);
      builder.setInsertionPointToEnd(call);
      builder.create<LLVM::CallOp>(loc, function, ValueRange{ctx});
      builder.create<LLVM::BrOp>(loc, next);
      builder.setInsertionPointToEnd(next);
    }
    Value result =
        emitCall(loc,
                 RuntimeCall{"pwrt_cg_result",
                             {{CallArg::String, 0, name.str()},
                              {CallArg::I32, program.getRanks(), {}}},
                             ""},
                 ctx, {i32})
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
    Block *entry = builder.getInsertionBlock()->getParent()->empty()
                       ? builder.getInsertionBlock()
                       : &builder.getInsertionBlock()->getParent()->front();
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(entry);
    Value result = builder.create<LLVM::ConstantOp>(
        loc, type, builder.getIntegerAttr(type, value));
    constants[key] = result;
    return result;
  }

  SmallVector<Value> emitCall(Location loc, const RuntimeCall &call, Value ctx,
                              ArrayRef<Type> results) {
    SmallVector<Value> operands = {ctx};
    SmallVector<Type> types = {ptr};
    for (const CallArg &arg : call.args) {
      if (arg.kind == CallArg::String) {
        operands.push_back(stringAddress(loc, arg.text));
        types.push_back(ptr);
        continue;
      }
      Type type = arg.kind == CallArg::I32 ? i32 : i64;
      operands.push_back(constant(loc, type, arg.value));
      types.push_back(type);
    }
    LLVM::LLVMFuncOp callee =
        module.lookupSymbol<LLVM::LLVMFuncOp>(call.callee);
    if (!callee)
      callee = createFunction(call.callee, types, results,
                              LLVM::Linkage::External, loc);
    return builder.create<LLVM::CallOp>(loc, callee, operands).getResults();
  }

  ModuleOp module;
  OpBuilder builder;
  Type ptr, i32, i64;
  llvm::StringMap<LLVM::GlobalOp> strings;
  llvm::DenseMap<std::pair<Type, int64_t>, Value> constants;
};

struct RuntimeToLLVMPass
    : pipeweave::impl::RuntimeToLLVMBase<RuntimeToLLVMPass> {
  void runOnOperation() override {
    LLVMEmitter emitter(getOperation());
    for (pwrt::ProgramOp program :
         llvm::make_early_inc_range(getOperation().getOps<pwrt::ProgramOp>())) {
      emitter.lower(program);
      program.erase();
    }
  }
};
} // namespace
