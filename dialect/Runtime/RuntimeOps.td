//===- RuntimeOps.td - the pwrt dialect --------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_RUNTIME_OPS
#define PIPEWEAVE_RUNTIME_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/Properties.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Pwrt_Dialect : Dialect {
  let name = "pwrt";
  let summary = "Runtime level: streams, events, grouped p2p, kernel launches";
  let description = [{
    What one rank's host thread issues, in order, to the pipeweave runtime
    (the `pwrt_` C ABI): kernel launches on streams, groups of point-to-point
    transfers, and events that order streams. Every tensor lives in a slot
    `offset+bytes` of the rank's preallocated pool.
  }];
  let cppNamespace = "::pipeweave::pwrt";
  let useDefaultTypePrinterParser = 1;
}

class Pwrt_Type<string name, string typeMnemonic>
    : TypeDef<Pwrt_Dialect, name> {
  let mnemonic = typeMnemonic;
}
def Pwrt_StreamType : Pwrt_Type<"Stream", "stream"> {
  let summary = "An in-order queue of work (CUDA stream / host worker thread)";
}
def Pwrt_EventType : Pwrt_Type<"Event", "event"> {
  let summary = "A point in a stream that other streams can wait for";
}

class Pwrt_Op<string mnemonic, list<Trait> traits = []>
    : Op<Pwrt_Dialect, mnemonic, traits>;

def Pwrt_NonNegative : ConfinedAttr<I64Attr, [IntNonNegative]>;

// The ops a large program has hundreds of thousands of (launch, send, recv)
// keep their fields as plain C++ properties, not uniqued attributes, so that
// building them allocates nothing but the op. Their verifiers check ranges.
def Pwrt_Int64Prop : IntProperty<"int64_t", "a 64-bit integer">;
def Pwrt_LayerProp : IntProperty<"int64_t", "a component layer, -1 for none"> {
  let defaultValue = "-1";
}
def Pwrt_LaunchKindProp
    : EnumProperty<"::pipeweave::pwrt::LaunchKind", "a launch kind">;
def Pwrt_PayloadProp
    : EnumProperty<"::pipeweave::pwrt::Payload", "activation or gradient">;
def Pwrt_LaunchBuffersProp
    : Property<"::pipeweave::pwrt::LaunchBuffers",
               "a pool slot per buffer role"> {
  let convertFromStorage = "$_storage";
  let assignToStorage = "$_storage = $_value";
  let hashProperty = "::pipeweave::pwrt::hash_value($_storage);";
  let writeToMlirBytecode = writeMlirBytecodeWithConvertToAttribute;
  let readFromMlirBytecode = readMlirBytecodeUsingConvertFromAttribute;
}

def Pwrt_ProgramOp : Pwrt_Op<"program", [
    Symbol, IsolatedFromAbove, SingleBlock, NoTerminator]> {
  let summary = "One training step for every rank";
  let description = [{
    `expert_parallel` (default 1): processes per pipeline rank; the program
    runs on ranks * expert_parallel processes, its all-to-alls among the
    processes of one pipeline rank (runtime/README.md).
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       ConfinedAttr<I64Attr, [IntMinValue<1>]>:$ranks,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$expert_parallel);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `ranks` `=` $ranks (`expert_parallel` `=` $expert_parallel^)?
    attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
}

def Pwrt_RankOp : Pwrt_Op<"rank", [
    HasParent<"ProgramOp">, SingleBlock, NoTerminator]> {
  let summary = "What one rank issues, in order, for one step";
  let description = [{
    `pool` is the size in bytes of the rank's buffer pool; every slot of the
    rank's launches and transfers lies inside it.
  }];
  let arguments = (ins Pwrt_NonNegative:$rank, Pwrt_NonNegative:$pool);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$rank `pool` $pool attr-dict-with-keyword $body";
  let hasRegionVerifier = 1;
}

def Pwrt_StreamOp : Pwrt_Op<"stream", [HasParent<"RankOp">]> {
  let summary = "Declare a stream of the rank";
  let arguments = (ins StrAttr:$name);
  let results = (outs Pwrt_StreamType:$stream);
  let assemblyFormat = "$name attr-dict";
}

def Pwrt_LaunchOp : Pwrt_Op<"launch", [HasParent<"RankOp">]> {
  let summary = "Launch a user kernel for one stage and micro-batch";
  let description = [{
    ```mlir
    pwrt.launch forward "block_fwd" stage 1 mb 0 on %compute
        (input = 0+4096, saved = 4096+8192, output = 12288+4096)
    ```
    `kind` is forward, backward_input, backward_weight, backward or loss.
    A component's launch names its layer within the stage after the
    micro-batch (`mb 0 layer 1`); it is -1 (not printed) otherwise.
    The buffer list names each tensor the kernel reads or writes by role
    (`input`, `output`, `saved`, `grad_output`, `grad_input`) as a pool slot
    `offset+bytes`; it prints in that role order.
  }];
  let arguments = (ins Pwrt_LaunchKindProp:$kind, StrAttr:$kernel,
                       Pwrt_Int64Prop:$stage, Pwrt_Int64Prop:$mb,
                       Pwrt_LayerProp:$layer,
                       Pwrt_StreamType:$stream,
                       Pwrt_LaunchBuffersProp:$buffers);
  let builders = [OpBuilder<(ins "LaunchKind":$kind,
      "::mlir::StringAttr":$kernel, "int64_t":$stage, "int64_t":$mb,
      "::mlir::Value":$stream, "const LaunchBuffers &":$buffers,
      CArg<"int64_t", "-1">:$layer), [{
    $_state.addOperands(stream);
    Properties &properties = $_state.getOrAddProperties<Properties>();
    properties.kind = kind;
    properties.kernel = kernel;
    properties.stage = stage;
    properties.mb = mb;
    properties.layer = layer;
    properties.buffers = buffers;
  }]>];
  let extraClassDeclaration = [{
    LaunchKind getKind() { return getProperties().kind; }
    int64_t getStage() { return getProperties().stage; }
    int64_t getMb() { return getProperties().mb; }
    int64_t getLayer() { return getProperties().layer; }
    const LaunchBuffers &getBuffers() { return getProperties().buffers; }
  }];
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

def Pwrt_AllToAllOp : Pwrt_Op<"all_to_all", [HasParent<"RankOp">]> {
  let summary = "An expert-parallel all-to-all of one component item";
  let description = [{
    ```mlir
    pwrt.all_to_all "dispatch" forward stage 1 mb 2 layer 0 on %comm
        (send = 0+2320, recv = 2368+2320) row_bytes 72
    ```
    Exchanges rows among the rank's expert-parallel group
    (`pwrt_all_to_all`): reads the send slot and writes the receive slot
    (each: per-peer int64 row counts, then rows of `row_bytes`). `kind` is
    forward or backward (the reverse all-to-all of the backward chain);
    the component name, stage, micro-batch and layer label it.
  }];
  let arguments = (ins StrAttr:$component, Pwrt_LaunchKindProp:$kind,
                       Pwrt_Int64Prop:$stage, Pwrt_Int64Prop:$mb,
                       Pwrt_Int64Prop:$layer, Pwrt_StreamType:$stream,
                       Pwrt_Int64Prop:$send_offset, Pwrt_Int64Prop:$send_bytes,
                       Pwrt_Int64Prop:$recv_offset, Pwrt_Int64Prop:$recv_bytes,
                       Pwrt_Int64Prop:$row_bytes);
  let extraClassDeclaration = [{
    LaunchKind getKind() { return getProperties().kind; }
    int64_t getStage() { return getProperties().stage; }
    int64_t getMb() { return getProperties().mb; }
    int64_t getLayer() { return getProperties().layer; }
    int64_t getSendOffset() { return getProperties().send_offset; }
    int64_t getSendBytes() { return getProperties().send_bytes; }
    int64_t getRecvOffset() { return getProperties().recv_offset; }
    int64_t getRecvBytes() { return getProperties().recv_bytes; }
    int64_t getRowBytes() { return getProperties().row_bytes; }
  }];
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

def Pwrt_RecordOp : Pwrt_Op<"record", [HasParent<"RankOp">]> {
  let summary = "Record an event after the work issued so far on a stream";
  let arguments = (ins Pwrt_StreamType:$stream);
  let results = (outs Pwrt_EventType:$event);
  let assemblyFormat = "$stream attr-dict";
}

def Pwrt_WaitOp : Pwrt_Op<"wait", [HasParent<"RankOp">]> {
  let summary = "Make a stream wait for an event before its next work";
  let arguments = (ins Pwrt_StreamType:$stream, Pwrt_EventType:$event);
  let assemblyFormat = "$stream `for` $event attr-dict";
}

def Pwrt_P2PGroupOp : Pwrt_Op<"p2p_group", [
    HasParent<"RankOp">, SingleBlock, NoTerminator]> {
  let summary = "Post sends and receives together on a stream";
  let description = [{
    NCCL group / `batch_isend_irecv` semantics: all transfers of the group
    are posted at once; the stream moves on when all have completed.
  }];
  let arguments = (ins Pwrt_StreamType:$stream);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`on` $stream attr-dict-with-keyword $body";
  let hasRegionVerifier = 1;
}

// `pwrt.send activation stage 0 mb 1 to 1 tag 2 slot 0+4096`
class Pwrt_TransferOp<string mnemonic>
    : Pwrt_Op<mnemonic, [HasParent<"P2PGroupOp">]> {
  let arguments = (ins Pwrt_PayloadProp:$payload, Pwrt_Int64Prop:$stage,
                       Pwrt_Int64Prop:$mb, Pwrt_Int64Prop:$peer,
                       Pwrt_Int64Prop:$tag, Pwrt_Int64Prop:$offset,
                       Pwrt_Int64Prop:$bytes);
  let builders = [OpBuilder<(ins "Payload":$payload, "int64_t":$stage,
      "int64_t":$mb, "int64_t":$peer, "int64_t":$tag, "int64_t":$offset,
      "int64_t":$bytes), [{
    Properties &properties = $_state.getOrAddProperties<Properties>();
    properties.payload = payload;
    properties.stage = stage;
    properties.mb = mb;
    properties.peer = peer;
    properties.tag = tag;
    properties.offset = offset;
    properties.bytes = bytes;
  }]>];
  let extraClassDeclaration = [{
    Payload getPayload() { return getProperties().payload; }
    int64_t getStage() { return getProperties().stage; }
    int64_t getMb() { return getProperties().mb; }
    int64_t getPeer() { return getProperties().peer; }
    int64_t getTag() { return getProperties().tag; }
    int64_t getOffset() { return getProperties().offset; }
    int64_t getBytes() { return getProperties().bytes; }
  }];
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}
def Pwrt_SendOp : Pwrt_TransferOp<"send"> {
  let summary = "Send a slot's bytes to a peer rank";
}
def Pwrt_RecvOp : Pwrt_TransferOp<"recv"> {
  let summary = "Receive a peer's bytes into a slot";
}

#endif // PIPEWEAVE_RUNTIME_OPS
