//===- SchedOps.td - the sched dialect ---------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_SCHED_OPS
#define PIPEWEAVE_SCHED_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Sched_Dialect : Dialect {
  let name = "sched";
  let summary = "Compiled pipeline schedules: per-rank ordered actions";
  let description = [{
    A `sched.program` holds one `sched.rank` per rank; each rank runs its
    actions top to bottom. Compute actions name a stage and a micro-batch;
    `sched.send` / `sched.recv` move one activation or gradient between
    ranks. Consecutive send/recv actions form one group that is posted
    together (NCCL group / `batch_isend_irecv` semantics).
  }];
  let cppNamespace = "::pipeweave::sched";
  let useDefaultAttributePrinterParser = 1;
}

def Sched_Payload : I32EnumAttr<"Payload", "what a send or receive carries", [
    I32EnumAttrCase<"Activation", 0, "activation">,
    I32EnumAttrCase<"Gradient", 1, "gradient">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::pipeweave::sched";
}
def Sched_PayloadAttr : EnumAttr<Sched_Dialect, Sched_Payload, "payload">;

def Sched_Phase : I32EnumAttr<"Phase", "which part of a component runs", [
    I32EnumAttrCase<"Forward", 0, "forward">,
    I32EnumAttrCase<"BackwardInput", 1, "backward_input">,
    I32EnumAttrCase<"BackwardWeight", 2, "backward_weight">,
    I32EnumAttrCase<"Backward", 3, "backward">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::pipeweave::sched";
}
def Sched_PhaseAttr : EnumAttr<Sched_Dialect, Sched_Phase, "phase">;

def Sched_Stream : I32EnumAttr<"Stream", "the stream a component runs on", [
    I32EnumAttrCase<"Compute", 0, "compute">,
    I32EnumAttrCase<"Comm", 1, "comm">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::pipeweave::sched";
}
def Sched_StreamAttr : EnumAttr<Sched_Dialect, Sched_Stream, "stream">;

class Sched_Op<string mnemonic, list<Trait> traits = []>
    : Op<Sched_Dialect, mnemonic, traits>;

def Sched_NonNegative : ConfinedAttr<I64Attr, [IntNonNegative]>;

def Sched_ProgramOp : Sched_Op<"program", [
    Symbol, IsolatedFromAbove, SingleBlock, NoTerminator]> {
  let summary = "A compiled schedule: one ordered action list per rank";
  let description = [{
    ```mlir
    sched.program @train ranks = 2 stages = 2 microbatches = 2
        schedule = "1f1b" {
      sched.rank 0 {
        sched.forward stage 0 mb 0
        sched.send activation stage 0 mb 0 to 1 bytes 1024
        ...
      }
      sched.rank 1 { ... }
    }
    ```
    Stages form `directions` chains of stages/directions stages each
    (2 for DualPipe, else 1); each direction carries
    microbatches/directions micro-batches numbered from 0. Optional
    `activation_bytes` / `gradient_bytes` arrays (one entry per stage) give
    the message sizes that `--sched-insert-comm` uses. An optional
    `cost_model` dictionary carries the spec's resolved per-stage costs for
    the simulator: `forward`, `backward_input`, `backward_weight`, `backward`,
    `overlapped` (`array<f64: ...>`, one per stage), `activation_memory`
    (`array<i64: ...>`), `p2p_latency` and optionally `p2p_bandwidth`
    (f64), and optionally `kernels`, a dictionary from action (`forward`,
    `backward_input`, `backward_weight`, `backward`, `loss`) to an array of
    one kernel name per stage ("" where none). The verifier checks
    what PyTorch's `_validate_schedule` checks and more: per-stage action
    counts, B/I only after F, W only after I, each stage on exactly one
    rank, and matching send/recv pairs.
  }];
  let arguments = (ins
    SymbolNameAttr:$sym_name,
    ConfinedAttr<I64Attr, [IntMinValue<1>]>:$ranks,
    ConfinedAttr<I64Attr, [IntMinValue<1>]>:$stages,
    ConfinedAttr<I64Attr, [IntMinValue<1>]>:$microbatches,
    StrAttr:$schedule,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>, "1">:$directions,
    OptionalAttr<DenseI64ArrayAttr>:$activation_bytes,
    OptionalAttr<DenseI64ArrayAttr>:$gradient_bytes,
    OptionalAttr<DictionaryAttr>:$cost_model);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `ranks` `=` $ranks `stages` `=` $stages
    `microbatches` `=` $microbatches `schedule` `=` $schedule
    (`directions` `=` $directions^)? attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
}

def Sched_RankOp : Sched_Op<"rank", [
    HasParent<"ProgramOp">, SingleBlock, NoTerminator]> {
  let summary = "The ordered actions of one rank";
  let arguments = (ins Sched_NonNegative:$rank);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$rank attr-dict-with-keyword $body";
}

class Sched_ActionOp<string mnemonic, list<Trait> traits = []>
    : Sched_Op<mnemonic, !listconcat(traits, [HasParent<"RankOp">])>;

class Sched_ComputeOp<string mnemonic, string what>
    : Sched_ActionOp<mnemonic> {
  let summary = what # " of one stage for one micro-batch";
  let arguments = (ins Sched_NonNegative:$stage, Sched_NonNegative:$mb);
  let assemblyFormat = "`stage` $stage `mb` $mb attr-dict";
}

def Sched_ForwardOp : Sched_ComputeOp<"forward", "Forward (F)">;
def Sched_BackwardInputOp
    : Sched_ComputeOp<"backward_input", "Backward for the input (I)">;
def Sched_BackwardWeightOp
    : Sched_ComputeOp<"backward_weight", "Backward for the weights (W)">;
def Sched_BackwardOp : Sched_ComputeOp<"backward", "Full backward (B = I + W)">;

def Sched_OverlapOp : Sched_ActionOp<"overlap", [
    SingleBlock, NoTerminator]> {
  let summary = "One forward and one full backward run together";
  let description = [{
    DualPipe's overlapped pair: the forward chunk of one micro-batch and the
    backward chunk of another, run at once so that each one's communication
    hides under the other's computation.

    When the stages have components (`pipe.layers`), `--sched-overlap-fb`
    records the pair's plan in the body: every component item of the two
    chunks once, as `sched.component`, in an order in which each stream
    runs its items (the items' start order in the plan):
    ```mlir
    sched.overlap forward stage 0 mb 2 backward stage 3 mb 0 {
      sched.component backward "combine" layer 3 on comm
      sched.component forward "attn" layer 0 on compute
      ...
    }
    ```
    The program verifier checks the plan against the cost model: each item
    of the forward chain (layers in order), the backward chain (layers last
    first) and the W items exactly once, on its component's stream, in an
    order that can run. The simulator charges the plan's makespan.
  }];
  let arguments = (ins
    Sched_NonNegative:$forward_stage, Sched_NonNegative:$forward_mb,
    Sched_NonNegative:$backward_stage, Sched_NonNegative:$backward_mb);
  let regions = (region MaxSizedRegion<1>:$plan);
  let assemblyFormat = [{
    `forward` `stage` $forward_stage `mb` $forward_mb
    `backward` `stage` $backward_stage `mb` $backward_mb
    attr-dict-with-keyword ($plan^)?
  }];
  let hasRegionVerifier = 1;
}

def Sched_ComponentOp : Sched_Op<"component", [HasParent<"OverlapOp">]> {
  let summary = "One component item of an overlapped pair's plan";
  let description = [{
    `forward` items belong to the forward chunk; `backward_input`,
    `backward_weight` (compute components) and `backward` (all-to-alls, or
    a whole chunk without components, named "chunk") to the backward chunk.
    `layer` is the component's layer within its chunk; `on` names the
    stream: compute for compute components, comm for all-to-alls.
  }];
  let arguments = (ins Sched_PhaseAttr:$phase, StrAttr:$component,
                   Sched_NonNegative:$layer, Sched_StreamAttr:$stream);
  let assemblyFormat = [{
    $phase $component `layer` $layer `on` $stream attr-dict
  }];
}

def Sched_SendOp : Sched_ActionOp<"send"> {
  let summary = "Send one activation or gradient of a local stage to a peer";
  let description = [{
    `stage` is the local stage that produced the tensor. Consecutive
    send/recv actions on a rank are posted as one group.
  }];
  let arguments = (ins Sched_PayloadAttr:$payload, Sched_NonNegative:$stage,
                   Sched_NonNegative:$mb, Sched_NonNegative:$peer,
                   Sched_NonNegative:$bytes);
  let assemblyFormat = [{
    $payload `stage` $stage `mb` $mb `to` $peer `bytes` $bytes attr-dict
  }];
}

def Sched_RecvOp : Sched_ActionOp<"recv"> {
  let summary = "Receive one activation or gradient for a local stage";
  let description = [{
    `stage` is the local stage that consumes the tensor.
  }];
  let arguments = (ins Sched_PayloadAttr:$payload, Sched_NonNegative:$stage,
                   Sched_NonNegative:$mb, Sched_NonNegative:$peer,
                   Sched_NonNegative:$bytes);
  let assemblyFormat = [{
    $payload `stage` $stage `mb` $mb `from` $peer `bytes` $bytes attr-dict
  }];
}

#endif // PIPEWEAVE_SCHED_OPS
