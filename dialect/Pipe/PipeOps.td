//===- PipeOps.td - pipe dialect operations ----------------*- tablegen -*-===//

#ifndef PIPEWEAVE_PIPE_OPS
#define PIPEWEAVE_PIPE_OPS

include "dialect/Pipe/PipeDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Pipe_PipelineOp : Pipe_Op<"pipeline", [
    Symbol, IsolatedFromAbove, SingleBlock, NoTerminator,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "A pipeline-parallel training step to schedule";
  let description = [{
    ```mlir
    pipe.pipeline @train ranks = 4 microbatches = 8 schedule = "1f1b" {
      pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 1.0
      pipe.p2p latency = 0.05, bandwidth = 5.0e10
      pipe.tensor activation_bytes = 1572864
      pipe.kernels forward = "mlp_fwd", backward_input = "mlp_bwd_in",
                   backward_weight = "mlp_bwd_w", loss = "mse_loss"
      pipe.stage 0 {
        pipe.cost forward = 1.4
      }
    }
    ```
    The body holds at most one each of `pipe.cost`, `pipe.p2p`,
    `pipe.tensor`, `pipe.kernels` and `pipe.layers` (the uniform defaults)
    and any number of `pipe.stage` overrides. `stages_per_rank` defaults to
    the schedule's shape (1, or 2 for zb-v, dualpipe and dualpipev).

    `expert_parallel = E` runs the step on ranks * E processes: process p
    is pipeline rank p / E, expert-parallel index p % E, and the E
    processes of one pipeline rank form the group among which the
    all-to-all components run. Every `moe.expert_group` an all-to-all
    names spreads its slots over exactly E GPUs (`gpus = E`); without the
    field, E is that common `gpus` (1 when no component names a group).
  }];
  let arguments = (ins
    SymbolNameAttr:$sym_name,
    ConfinedAttr<I64Attr, [IntMinValue<1>]>:$ranks,
    ConfinedAttr<I64Attr, [IntMinValue<1>]>:$microbatches,
    StrAttr:$schedule,
    OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$stages_per_rank,
    OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$expert_parallel);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `ranks` `=` $ranks `microbatches` `=` $microbatches
    `schedule` `=` $schedule (`stages_per_rank` `=` $stages_per_rank^)?
    (`expert_parallel` `=` $expert_parallel^)?
    attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// Stages per rank after applying the schedule's default.
    int64_t getEffectiveStagesPerRank();
    int64_t getNumStages() { return getRanks() * getEffectiveStagesPerRank(); }
  }];
}

def Pipe_StageOp : Pipe_Op<"stage", [
    HasParent<"PipelineOp">, SingleBlock, NoTerminator]> {
  let summary = "Per-stage overrides of the pipeline's defaults";
  let description = [{
    ```mlir
    pipe.stage 0 {
      pipe.cost forward = 1.4
      pipe.kernels forward = "embed_fwd"
    }
    ```
    Holds at most one each of `pipe.cost`, `pipe.tensor`, `pipe.kernels` and
    `pipe.layers`; fields it sets replace the pipeline-wide values for this
    stage only. A `pipe.layers` with components replaces the pipeline's
    layer; one without (`pipe.layers 2`) repeats the pipeline's components
    a different number of times.
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntNonNegative]>:$index);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$index attr-dict-with-keyword $body";
}

def Pipe_LayersOp : Pipe_Op<"layers", [SingleBlock, NoTerminator]> {
  let summary = "A stage as `count` identical layers made of components";
  let description = [{
    ```mlir
    pipe.layers 4 {
      pipe.component "attn" compute forward = 1.0, backward_input = 2.0,
          backward_weight = 1.0
      pipe.component "dispatch" all_to_all @experts forward = 0.8
      pipe.component "mlp" compute forward = 1.2, backward_input = 2.4,
          backward_weight = 1.2
      pipe.component "combine" all_to_all @experts forward = 0.8
    }
    ```
    The body lists one layer's components in forward order (names unique
    within it); each stage runs `count` such layers. In a `pipe.stage`, a
    `pipe.layers` without a body repeats the pipeline's components.

    Unless `pipe.cost` sets them, the stage's costs follow from its layers
    (L = count; sums over the layer's components): forward = L * sum of
    forward costs, all-to-alls included (a lone forward chunk runs its
    chain one component after another, so nothing hides its
    communication); backward_input = L * (sum of compute backward_input +
    sum of all-to-all backward); backward_weight = L * sum of compute
    backward_weight; backward = backward_input + backward_weight and
    overlapped = forward + backward as without components.
    `--sched-overlap-fb` plans each overlapped pair on two streams and the
    simulator charges the plan's makespan instead of `overlapped`.
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntMinValue<1>]>:$count);
  let regions = (region MaxSizedRegion<1>:$body);
  let assemblyFormat = "$count attr-dict-with-keyword ($body^)?";
  let hasRegionVerifier = 1;
}

def Pipe_ComponentOp : Pipe_Op<"component", [HasParent<"LayersOp">]> {
  let summary = "One component of a layer: compute or an all-to-all";
  let description = [{
    ```mlir
    pipe.component "attn" compute forward = 1.0, backward_input = 2.0,
        backward_weight = 1.0
        kernels forward = "attn_fwd", backward_input = "attn_bwd_in",
                backward_weight = "attn_bwd_w"
    pipe.component "dispatch" all_to_all @experts forward = 0.8,
        backward = 0.8
    ```
    A `compute` component runs on the compute stream: `forward` and
    `backward_input` are required, `backward_weight` defaults to 0 (a
    component without weights), and `kernels` may name its forward,
    backward_input and backward_weight kernels. An `all_to_all` component
    is the expert-parallel all-to-all of the `moe.expert_group` it names,
    whose placement routes the tokens; it runs on the communication stream,
    `forward` is required and `backward` (the reverse all-to-all) defaults
    to `forward`; `row_bytes` and `rows` (both or neither, positive) size
    its buffers for lowering: 8 * E + rows * row_bytes bytes (per-peer
    int64 row counts, then the rows).
  }];
  let arguments = (ins
    StrAttr:$component_name,
    StrAttr:$kind,
    OptionalAttr<FlatSymbolRefAttr>:$expert_group,
    OptionalAttr<F64Attr>:$forward,
    OptionalAttr<F64Attr>:$backward_input,
    OptionalAttr<F64Attr>:$backward_weight,
    OptionalAttr<F64Attr>:$backward,
    OptionalAttr<I64Attr>:$row_bytes,
    OptionalAttr<I64Attr>:$rows,
    OptionalAttr<DictionaryAttr>:$kernels);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool isCompute() { return getKind() == "compute"; }
  }];
}

// Field-list ops print as `pipe.X name = value, name = value`; the accepted
// names and value kinds live in FieldList.cpp so that the parser, printer and
// verifier agree.
class Pipe_FieldListOp<string mnemonic, list<Trait> traits = []>
    : Pipe_Op<mnemonic, traits> {
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

def Pipe_CostOp : Pipe_FieldListOp<"cost"> {
  let summary = "Compute costs of one micro-batch through one stage";
  let description = [{
    Fields (time units are the user's, the same for every cost):
    `forward` (F), `backward_input` (I), `backward_weight` (W),
    `backward` (full backward B; defaults to I + W) and `overlapped` (one F
    and one B run together; defaults to F + B, i.e. no overlap benefit).
  }];
  let arguments = (ins
    OptionalAttr<F64Attr>:$forward,
    OptionalAttr<F64Attr>:$backward_input,
    OptionalAttr<F64Attr>:$backward_weight,
    OptionalAttr<F64Attr>:$backward,
    OptionalAttr<F64Attr>:$overlapped);
}

def Pipe_P2POp : Pipe_FieldListOp<"p2p", [HasParent<"PipelineOp">]> {
  let summary = "Point-to-point link model between neighbouring ranks";
  let description = [{
    `latency` (time units, default 0) and `bandwidth` (bytes per time unit;
    when absent, transfers cost only their latency).
  }];
  let arguments = (ins
    OptionalAttr<F64Attr>:$latency,
    OptionalAttr<F64Attr>:$bandwidth);
}

def Pipe_TensorOp : Pipe_FieldListOp<"tensor"> {
  let summary = "Sizes of the tensors a stage produces and keeps";
  let description = [{
    `activation_bytes`: one activation message sent to the next stage;
    `gradient_bytes`: one gradient message sent to the previous stage
    (defaults to activation_bytes); `activation_memory`: bytes a stage keeps
    alive per in-flight micro-batch (defaults to activation_bytes).
  }];
  let arguments = (ins
    OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$activation_bytes,
    OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$gradient_bytes,
    OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$activation_memory);
}

def Pipe_KernelsOp : Pipe_FieldListOp<"kernels"> {
  let summary = "Names of the user kernels that implement a stage";
  let description = [{
    `forward`, `backward_input`, `backward_weight`, `backward` and `loss`:
    symbol names the runtime lowering launches for each action.
  }];
  let arguments = (ins
    OptionalAttr<StrAttr>:$forward,
    OptionalAttr<StrAttr>:$backward_input,
    OptionalAttr<StrAttr>:$backward_weight,
    OptionalAttr<StrAttr>:$backward,
    OptionalAttr<StrAttr>:$loss);
}

#endif // PIPEWEAVE_PIPE_OPS
