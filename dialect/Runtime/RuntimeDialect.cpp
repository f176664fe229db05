//===- RuntimeDialect.cpp - the pwrt dialect ------------------------------===//

#include "dialect/Runtime/RuntimeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace pipeweave::pwrt;

#include "dialect/Runtime/RuntimeDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialect/Runtime/RuntimeTypes.cpp.inc"

/// A string attribute written as a bare keyword (`activation`).
static ParseResult parseKeyword(OpAsmParser &parser, StringAttr &value) {
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  value = parser.getBuilder().getStringAttr(keyword);
  return success();
}
static void printKeyword(OpAsmPrinter &printer, Operation *, StringAttr value) {
  printer << value.getValue();
}

/// A pool slot written `offset+bytes`.
static ParseResult parseSlot(OpAsmParser &parser, IntegerAttr &offset,
                             IntegerAttr &bytes) {
  int64_t first, second;
  if (parser.parseInteger(first) || parser.parsePlus() ||
      parser.parseInteger(second))
    return failure();
  offset = parser.getBuilder().getI64IntegerAttr(first);
  bytes = parser.getBuilder().getI64IntegerAttr(second);
  return success();
}
static void printSlot(OpAsmPrinter &printer, Operation *, IntegerAttr offset,
                      IntegerAttr bytes) {
  printer << offset.getInt() << "+" << bytes.getInt();
}

#define GET_OP_CLASSES
#include "dialect/Runtime/RuntimeOps.cpp.inc"

void PwrtDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialect/Runtime/RuntimeTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/Runtime/RuntimeOps.cpp.inc"
      >();
}

static constexpr llvm::StringLiteral kRoles[] = {"input", "output", "saved",
                                                 "grad_output", "grad_input"};
static constexpr llvm::StringLiteral kKinds[] = {
    "forward", "backward_input", "backward_weight", "backward", "loss"};

ArrayRef<llvm::StringLiteral> pipeweave::pwrt::launchRoles() { return kRoles; }
ArrayRef<llvm::StringLiteral> pipeweave::pwrt::launchKinds() { return kKinds; }

//===----------------------------------------------------------------------===//
// LaunchOp: `pwrt.launch forward "f" stage 0 mb 1 on %s (input = 0+64, ...)`
//===----------------------------------------------------------------------===//

ParseResult LaunchOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  StringRef kind;
  std::string kernel;
  int64_t stage, mb;
  OpAsmParser::UnresolvedOperand stream;
  if (parser.parseKeyword(&kind) || parser.parseString(&kernel) ||
      parser.parseKeyword("stage") || parser.parseInteger(stage) ||
      parser.parseKeyword("mb") || parser.parseInteger(mb) ||
      parser.parseKeyword("on") || parser.parseOperand(stream))
    return failure();
  NamedAttrList buffers;
  auto parseBuffer = [&]() -> ParseResult {
    StringRef role;
    int64_t offset, bytes;
    llvm::SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&role) || parser.parseEqual() ||
        parser.parseInteger(offset) || parser.parsePlus() ||
        parser.parseInteger(bytes))
      return failure();
    if (buffers.get(role))
      return parser.emitError(loc) << "buffer role '" << role << "' twice";
    buffers.append(role, builder.getDenseI64ArrayAttr({offset, bytes}));
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                     parseBuffer) ||
      parser.parseOptionalAttrDict(result.attributes) ||
      parser.resolveOperand(stream, StreamType::get(builder.getContext()),
                            result.operands))
    return failure();
  result.addAttribute("kind", builder.getStringAttr(kind));
  result.addAttribute("kernel", builder.getStringAttr(kernel));
  result.addAttribute("stage", builder.getI64IntegerAttr(stage));
  result.addAttribute("mb", builder.getI64IntegerAttr(mb));
  result.addAttribute("buffers", buffers.getDictionary(builder.getContext()));
  return success();
}

void LaunchOp::print(OpAsmPrinter &p) {
  p << " " << getKind() << " ";
  p.printString(getKernel());
  p << " stage " << getStage() << " mb " << getMb() << " on " << getStream()
    << " (";
  bool first = true;
  for (llvm::StringLiteral role : kRoles) {
    auto slot = getBuffers().getAs<DenseI64ArrayAttr>(role);
    if (!slot || slot.size() != 2)
      continue;
    p << (first ? "" : ", ") << role << " = " << slot[0] << "+" << slot[1];
    first = false;
  }
  p << ")";
  p.printOptionalAttrDict((*this)->getAttrs(),
                          {"kind", "kernel", "stage", "mb", "buffers"});
}

LogicalResult LaunchOp::verify() {
  if (!llvm::is_contained(kKinds, getKind()))
    return emitOpError() << "unknown kind '" << getKind()
                         << "'; expected forward, backward_input, "
                            "backward_weight, backward or loss";
  if (getKernel().empty())
    return emitOpError("needs a kernel name");
  for (NamedAttribute buffer : getBuffers()) {
    if (!llvm::is_contained(kRoles, buffer.getName().getValue()))
      return emitOpError() << "unknown buffer role '"
                           << buffer.getName().getValue()
                           << "'; expected input, output, saved, grad_output "
                              "or grad_input";
    auto slot = dyn_cast<DenseI64ArrayAttr>(buffer.getValue());
    if (!slot || slot.size() != 2 || slot[0] < 0 || slot[1] < 0)
      return emitOpError() << "buffer '" << buffer.getName().getValue()
                           << "' must be a slot offset+bytes";
  }
  return success();
}

template <typename TransferOp>
static LogicalResult verifyTransfer(TransferOp op) {
  if (op.getPayload() != "activation" && op.getPayload() != "gradient")
    return op.emitOpError() << "payload must be activation or gradient, not '"
                            << op.getPayload() << "'";
  if (op.getTag() >= (1u << 30))
    return op.emitOpError("tag must be below 2^30");
  return success();
}
LogicalResult SendOp::verify() { return verifyTransfer(*this); }
LogicalResult RecvOp::verify() { return verifyTransfer(*this); }

LogicalResult P2PGroupOp::verifyRegions() {
  for (Operation &op : getBody().front())
    if (!isa<SendOp, RecvOp>(op))
      return op.emitOpError("is not allowed in a pwrt.p2p_group; expected "
                            "pwrt.send or pwrt.recv");
  return success();
}

/// Every slot a rank uses must lie inside its pool.
LogicalResult RankOp::verifyRegions() {
  uint64_t pool = getPool();
  auto check = [&](Operation *op, int64_t offset, int64_t bytes,
                   StringRef what) -> LogicalResult {
    if (static_cast<uint64_t>(offset + bytes) > pool)
      return op->emitOpError()
             << what << " slot " << offset << "+" << bytes
             << " ends past the rank's pool of " << pool << " bytes";
    return success();
  };
  WalkResult walk = getBody().walk([&](Operation *op) {
    LogicalResult ok = success();
    if (auto launch = dyn_cast<LaunchOp>(op)) {
      for (NamedAttribute buffer : launch.getBuffers())
        if (auto slot = dyn_cast<DenseI64ArrayAttr>(buffer.getValue());
            slot && slot.size() == 2 &&
            failed(check(op, slot[0], slot[1], buffer.getName().getValue())))
          ok = failure();
    } else if (auto send = dyn_cast<SendOp>(op)) {
      ok = check(op, send.getOffset(), send.getBytes(), "send");
    } else if (auto recv = dyn_cast<RecvOp>(op)) {
      ok = check(op, recv.getOffset(), recv.getBytes(), "recv");
    }
    return failed(ok) ? WalkResult::interrupt() : WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

LogicalResult ProgramOp::verifyRegions() {
  llvm::SmallVector<RankOp> byRank(getRanks());
  for (Operation &op : getBody().front()) {
    auto rank = dyn_cast<RankOp>(op);
    if (!rank)
      return op.emitOpError("is not allowed in a pwrt.program; expected "
                            "pwrt.rank");
    if (rank.getRank() >= getRanks())
      return rank.emitOpError() << "names rank " << rank.getRank() << " of a "
                                << getRanks() << "-rank program";
    if (byRank[rank.getRank()])
      return rank.emitOpError()
             << "rank " << rank.getRank() << " is given twice";
    byRank[rank.getRank()] = rank;
  }
  for (auto [index, rank] : llvm::enumerate(byRank))
    if (!rank)
      return emitOpError() << "has no pwrt.rank " << index;
  return success();
}
