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

//===----------------------------------------------------------------------===//
// Enums and property conversions
//===----------------------------------------------------------------------===//

static constexpr llvm::StringLiteral kKinds[] = {
    "forward", "backward_input", "backward_weight", "backward", "loss"};
static constexpr llvm::StringLiteral kPayloads[] = {"activation", "gradient"};
static constexpr llvm::StringLiteral kRoles[] = {"input", "output", "saved",
                                                 "grad_output", "grad_input"};

/// The index of `keyword` in `names`, if there.
template <size_t N>
static std::optional<int> indexIn(const llvm::StringLiteral (&names)[N],
                                  StringRef keyword) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == keyword)
      return static_cast<int>(i);
  return std::nullopt;
}

StringRef pipeweave::pwrt::stringifyLaunchKind(LaunchKind kind) {
  return kKinds[static_cast<int>(kind)];
}
std::optional<LaunchKind> pipeweave::pwrt::symbolizeLaunchKind(StringRef word) {
  if (std::optional<int> index = indexIn(kKinds, word))
    return static_cast<LaunchKind>(*index);
  return std::nullopt;
}
StringRef pipeweave::pwrt::stringifyPayload(Payload payload) {
  return kPayloads[static_cast<int>(payload)];
}
std::optional<Payload> pipeweave::pwrt::symbolizePayload(StringRef word) {
  if (std::optional<int> index = indexIn(kPayloads, word))
    return static_cast<Payload>(*index);
  return std::nullopt;
}
StringRef pipeweave::pwrt::stringifyLaunchRole(LaunchRole role) {
  return kRoles[static_cast<int>(role)];
}
std::optional<LaunchRole> pipeweave::pwrt::symbolizeLaunchRole(StringRef word) {
  if (std::optional<int> index = indexIn(kRoles, word))
    return static_cast<LaunchRole>(*index);
  return std::nullopt;
}

static constexpr const char *kKindList =
    "forward, backward_input, backward_weight, backward or loss";
static constexpr const char *kRoleList =
    "input, output, saved, grad_output or grad_input";

Attribute pipeweave::pwrt::convertToAttribute(MLIRContext *context,
                                              LaunchKind kind) {
  return StringAttr::get(context, stringifyLaunchKind(kind));
}
LogicalResult pipeweave::pwrt::convertFromAttribute(
    LaunchKind &kind, Attribute attr,
    llvm::function_ref<InFlightDiagnostic()> emitError) {
  auto word = dyn_cast<StringAttr>(attr);
  std::optional<LaunchKind> parsed =
      word ? symbolizeLaunchKind(word.getValue()) : std::nullopt;
  if (!parsed) {
    if (emitError)
      emitError() << "launch kind must be " << kKindList << ", not " << attr;
    return failure();
  }
  kind = *parsed;
  return success();
}

Attribute pipeweave::pwrt::convertToAttribute(MLIRContext *context,
                                              Payload payload) {
  return StringAttr::get(context, stringifyPayload(payload));
}
LogicalResult pipeweave::pwrt::convertFromAttribute(
    Payload &payload, Attribute attr,
    llvm::function_ref<InFlightDiagnostic()> emitError) {
  auto word = dyn_cast<StringAttr>(attr);
  std::optional<Payload> parsed =
      word ? symbolizePayload(word.getValue()) : std::nullopt;
  if (!parsed) {
    if (emitError)
      emitError() << "payload must be activation or gradient, not " << attr;
    return failure();
  }
  payload = *parsed;
  return success();
}

Attribute pipeweave::pwrt::convertToAttribute(MLIRContext *context,
                                              const LaunchBuffers &buffers) {
  SmallVector<NamedAttribute> entries;
  for (int role = 0; role < kNumLaunchRoles; ++role)
    if (std::optional<Slot> slot = buffers.get(static_cast<LaunchRole>(role)))
      entries.emplace_back(
          StringAttr::get(context, kRoles[role]),
          DenseI64ArrayAttr::get(context, {slot->offset, slot->bytes}));
  return DictionaryAttr::get(context, entries);
}
LogicalResult pipeweave::pwrt::convertFromAttribute(
    LaunchBuffers &buffers, Attribute attr,
    llvm::function_ref<InFlightDiagnostic()> emitError) {
  auto dictionary = dyn_cast<DictionaryAttr>(attr);
  if (!dictionary) {
    if (emitError)
      emitError() << "launch buffers must be a dictionary of role = "
                     "array<i64: offset, bytes>, not "
                  << attr;
    return failure();
  }
  buffers = LaunchBuffers();
  for (NamedAttribute entry : dictionary) {
    std::optional<LaunchRole> role =
        symbolizeLaunchRole(entry.getName().getValue());
    auto slot = dyn_cast<DenseI64ArrayAttr>(entry.getValue());
    if (!role || !slot || slot.size() != 2 || slot[0] < 0 || slot[1] < 0) {
      if (emitError)
        emitError() << "launch buffer '" << entry.getName().getValue()
                    << "' must be a role (" << kRoleList
                    << ") = array<i64: offset, bytes> with both >= 0";
      return failure();
    }
    buffers.set(*role, Slot{slot[0], slot[1]});
  }
  return success();
}

llvm::hash_code pipeweave::pwrt::hash_value(const LaunchBuffers &buffers) {
  llvm::hash_code hash(0);
  for (int role = 0; role < kNumLaunchRoles; ++role)
    if (std::optional<Slot> slot = buffers.get(static_cast<LaunchRole>(role)))
      hash = llvm::hash_combine(hash, role, slot->offset, slot->bytes);
  return hash;
}

//===----------------------------------------------------------------------===//
// LaunchOp: `pwrt.launch forward "f" stage 0 mb 1 on %s (input = 0+64, ...)`
//===----------------------------------------------------------------------===//

/// Parses a non-negative `offset+bytes`.
static ParseResult parseSlot(OpAsmParser &parser, Slot &slot,
                             const Twine &what) {
  llvm::SMLoc loc = parser.getCurrentLocation();
  if (parser.parseInteger(slot.offset) || parser.parsePlus() ||
      parser.parseInteger(slot.bytes))
    return failure();
  if (slot.offset < 0 || slot.bytes < 0)
    return parser.emitError(loc) << what << " must be a slot offset+bytes";
  return success();
}

ParseResult LaunchOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  StringRef kindWord;
  std::string kernel;
  int64_t stage, mb;
  OpAsmParser::UnresolvedOperand stream;
  llvm::SMLoc kindLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&kindWord))
    return failure();
  std::optional<LaunchKind> kind = symbolizeLaunchKind(kindWord);
  if (!kind)
    return parser.emitError(kindLoc)
           << "unknown kind '" << kindWord << "'; expected " << kKindList;
  if (parser.parseString(&kernel) || parser.parseKeyword("stage") ||
      parser.parseInteger(stage) || parser.parseKeyword("mb") ||
      parser.parseInteger(mb))
    return failure();
  int64_t layer = -1;
  if (succeeded(parser.parseOptionalKeyword("layer")) &&
      parser.parseInteger(layer))
    return failure();
  if (parser.parseKeyword("on") || parser.parseOperand(stream))
    return failure();
  LaunchBuffers buffers;
  auto parseBuffer = [&]() -> ParseResult {
    StringRef roleWord;
    llvm::SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&roleWord) || parser.parseEqual())
      return failure();
    std::optional<LaunchRole> role = symbolizeLaunchRole(roleWord);
    if (!role)
      return parser.emitError(loc) << "unknown buffer role '" << roleWord
                                   << "'; expected " << kRoleList;
    if (buffers.has(*role))
      return parser.emitError(loc) << "buffer role '" << roleWord << "' twice";
    Slot slot;
    if (parseSlot(parser, slot, "buffer '" + roleWord + "'"))
      return failure();
    buffers.set(*role, slot);
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Paren,
                                     parseBuffer) ||
      parser.parseOptionalAttrDict(result.attributes) ||
      parser.resolveOperand(stream, StreamType::get(builder.getContext()),
                            result.operands))
    return failure();
  Properties &properties = result.getOrAddProperties<Properties>();
  properties.kind = *kind;
  properties.kernel = builder.getStringAttr(kernel);
  properties.stage = stage;
  properties.mb = mb;
  properties.layer = layer;
  properties.buffers = buffers;
  return success();
}

void LaunchOp::print(OpAsmPrinter &p) {
  p << " " << stringifyLaunchKind(getKind()) << " ";
  p.printString(getKernel());
  p << " stage " << getStage() << " mb " << getMb();
  if (getLayer() >= 0)
    p << " layer " << getLayer();
  p << " on " << getStream() << " (";
  bool first = true;
  for (int role = 0; role < kNumLaunchRoles; ++role) {
    std::optional<Slot> slot = getBuffers().get(static_cast<LaunchRole>(role));
    if (!slot)
      continue;
    p << (first ? "" : ", ") << kRoles[role] << " = " << slot->offset << "+"
      << slot->bytes;
    first = false;
  }
  p << ")";
  p.printOptionalAttrDict((*this)->getAttrs(), {"kind", "kernel", "stage", "mb",
                                                "layer", "buffers"});
}

LogicalResult LaunchOp::verify() {
  if (getKernel().empty())
    return emitOpError("needs a kernel name");
  if (getStage() < 0 || getMb() < 0)
    return emitOpError("stage and mb must be >= 0");
  if (getLayer() < -1)
    return emitOpError("layer must be >= 0 (a component's), or -1 for none");
  if (getLayer() >= 0 && getBuffers().has(LaunchRole::Saved))
    return emitOpError("a component's launch (layer ")
           << getLayer()
           << ") has no saved slot: its kernels keep their own state";
  return success();
}

//===----------------------------------------------------------------------===//
// AllToAllOp: `pwrt.all_to_all "dispatch" forward stage 1 mb 2 layer 0 on %s
//              (send = 0+2320, recv = 2368+2320) row_bytes 72`
//===----------------------------------------------------------------------===//

ParseResult AllToAllOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  std::string component;
  StringRef kindWord;
  OpAsmParser::UnresolvedOperand stream;
  Properties &properties = result.getOrAddProperties<Properties>();
  if (parser.parseString(&component))
    return failure();
  llvm::SMLoc kindLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&kindWord))
    return failure();
  std::optional<LaunchKind> kind = symbolizeLaunchKind(kindWord);
  if (!kind || (*kind != LaunchKind::Forward && *kind != LaunchKind::Backward))
    return parser.emitError(kindLoc)
           << "all-to-all kind must be forward or backward, not '" << kindWord
           << "'";
  Slot send, recv;
  if (parser.parseKeyword("stage") || parser.parseInteger(properties.stage) ||
      parser.parseKeyword("mb") || parser.parseInteger(properties.mb) ||
      parser.parseKeyword("layer") || parser.parseInteger(properties.layer) ||
      parser.parseKeyword("on") || parser.parseOperand(stream) ||
      parser.parseLParen() || parser.parseKeyword("send") ||
      parser.parseEqual() || parseSlot(parser, send, "the send slot") ||
      parser.parseComma() || parser.parseKeyword("recv") ||
      parser.parseEqual() || parseSlot(parser, recv, "the receive slot") ||
      parser.parseRParen() || parser.parseKeyword("row_bytes") ||
      parser.parseInteger(properties.row_bytes) ||
      parser.parseOptionalAttrDict(result.attributes) ||
      parser.resolveOperand(stream, StreamType::get(builder.getContext()),
                            result.operands))
    return failure();
  properties.component = builder.getStringAttr(component);
  properties.kind = *kind;
  properties.send_offset = send.offset;
  properties.send_bytes = send.bytes;
  properties.recv_offset = recv.offset;
  properties.recv_bytes = recv.bytes;
  return success();
}

void AllToAllOp::print(OpAsmPrinter &p) {
  p << " ";
  p.printString(getComponent());
  p << " " << stringifyLaunchKind(getKind()) << " stage " << getStage()
    << " mb " << getMb() << " layer " << getLayer() << " on " << getStream()
    << " (send = " << getSendOffset() << "+" << getSendBytes()
    << ", recv = " << getRecvOffset() << "+" << getRecvBytes() << ") row_bytes "
    << getRowBytes();
  p.printOptionalAttrDict((*this)->getAttrs(),
                          {"component", "kind", "stage", "mb", "layer",
                           "send_offset", "send_bytes", "recv_offset",
                           "recv_bytes", "row_bytes"});
}

LogicalResult AllToAllOp::verify() {
  if (getComponent().empty())
    return emitOpError("needs a component name, e.g. \"dispatch\"");
  if (getKind() != LaunchKind::Forward && getKind() != LaunchKind::Backward)
    return emitOpError("kind must be forward or backward");
  if (getStage() < 0 || getMb() < 0 || getLayer() < 0)
    return emitOpError("stage, mb and layer must be >= 0");
  if (getSendOffset() < 0 || getSendBytes() < 0 || getRecvOffset() < 0 ||
      getRecvBytes() < 0)
    return emitOpError("send and recv must be slots offset+bytes >= 0");
  if (getRowBytes() <= 0)
    return emitOpError("row_bytes must be positive");
  if (getSendOffset() < getRecvOffset() + getRecvBytes() &&
      getRecvOffset() < getSendOffset() + getSendBytes())
    return emitOpError() << "send slot " << getSendOffset() << "+"
                         << getSendBytes() << " overlaps receive slot "
                         << getRecvOffset() << "+" << getRecvBytes();
  return success();
}

//===----------------------------------------------------------------------===//
// SendOp, RecvOp: `pwrt.send activation stage 0 mb 1 to 1 tag 2 slot 0+64`
//===----------------------------------------------------------------------===//

template <typename TransferOp>
static ParseResult parseTransfer(OpAsmParser &parser, OperationState &result,
                                 StringRef direction) {
  StringRef payloadWord;
  llvm::SMLoc loc = parser.getCurrentLocation();
  if (parser.parseKeyword(&payloadWord))
    return failure();
  std::optional<Payload> payload = symbolizePayload(payloadWord);
  if (!payload)
    return parser.emitError(loc)
           << "payload must be activation or gradient, not '" << payloadWord
           << "'";
  typename TransferOp::Properties &properties =
      result.getOrAddProperties<typename TransferOp::Properties>();
  properties.payload = *payload;
  Slot slot;
  if (parser.parseKeyword("stage") || parser.parseInteger(properties.stage) ||
      parser.parseKeyword("mb") || parser.parseInteger(properties.mb) ||
      parser.parseKeyword(direction) || parser.parseInteger(properties.peer) ||
      parser.parseKeyword("tag") || parser.parseInteger(properties.tag) ||
      parser.parseKeyword("slot") ||
      parseSlot(parser, slot, Twine(TransferOp::getOperationName())) ||
      parser.parseOptionalAttrDict(result.attributes))
    return failure();
  properties.offset = slot.offset;
  properties.bytes = slot.bytes;
  return success();
}

template <typename TransferOp>
static void printTransfer(TransferOp op, OpAsmPrinter &p, StringRef direction) {
  p << " " << stringifyPayload(op.getPayload()) << " stage " << op.getStage()
    << " mb " << op.getMb() << " " << direction << " " << op.getPeer()
    << " tag " << op.getTag() << " slot " << op.getOffset() << "+"
    << op.getBytes();
  p.printOptionalAttrDict(op->getAttrs(), {"payload", "stage", "mb", "peer",
                                           "tag", "offset", "bytes"});
}

ParseResult SendOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseTransfer<SendOp>(parser, result, "to");
}
void SendOp::print(OpAsmPrinter &p) { printTransfer(*this, p, "to"); }
ParseResult RecvOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseTransfer<RecvOp>(parser, result, "from");
}
void RecvOp::print(OpAsmPrinter &p) { printTransfer(*this, p, "from"); }

template <typename TransferOp>
static LogicalResult verifyTransfer(TransferOp op) {
  if (op.getStage() < 0 || op.getMb() < 0 || op.getPeer() < 0 ||
      op.getTag() < 0 || op.getOffset() < 0 || op.getBytes() < 0)
    return op.emitOpError(
        "stage, mb, peer, tag and slot offset+bytes must be >= 0");
  if (op.getTag() >= (1 << 30))
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
      for (int role = 0; role < kNumLaunchRoles && succeeded(ok); ++role)
        if (std::optional<Slot> slot =
                launch.getBuffers().get(static_cast<LaunchRole>(role)))
          ok = check(op, slot->offset, slot->bytes, kRoles[role]);
    } else if (auto send = dyn_cast<SendOp>(op)) {
      ok = check(op, send.getOffset(), send.getBytes(), "send");
    } else if (auto recv = dyn_cast<RecvOp>(op)) {
      ok = check(op, recv.getOffset(), recv.getBytes(), "recv");
    } else if (auto exchange = dyn_cast<AllToAllOp>(op)) {
      ok = check(op, exchange.getSendOffset(), exchange.getSendBytes(), "send");
      if (succeeded(ok))
        ok = check(op, exchange.getRecvOffset(), exchange.getRecvBytes(),
                   "recv");
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
