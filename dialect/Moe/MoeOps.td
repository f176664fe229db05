//===- MoeOps.td - moe dialect operations ------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_MOE_OPS
#define PIPEWEAVE_MOE_OPS

include "dialect/Moe/MoeDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Moe_ExpertGroupOp : Moe_Op<"expert_group", [
    Symbol, IsolatedFromAbove, NoTerminator]> {
  let summary = "The routed experts of a model's MoE layers and their loads";
  let description = [{
    ```mlir
    moe.expert_group @ffn layers = 2 experts = 12 groups = 4 nodes = 2
        gpus = 8 slots = 16
        loads = dense<[[90.0, 132.0, 40.0, 61.0, 104.0, 165.0, 39.0, 4.0,
                        73.0, 56.0, 183.0, 86.0],
                       [20.0, 107.0, 104.0, 64.0, 19.0, 197.0, 187.0, 157.0,
                        172.0, 86.0, 16.0, 27.0]]> : tensor<2x12xf32>
    ```
    `experts` logical experts per layer in `groups` expert groups, served by
    `nodes` nodes with `gpus` GPUs in all, which hold `slots` physical
    expert slots (replicas) per layer. `loads` is the load of each expert
    in each layer (`layers` x `experts` floats), or `loads_file` names a
    JSON file with it: `{"weight": [[...], ...]}` as `pwc eplb` takes, or the
    bare array. `--moe-eplb` reads it; a relative path is taken from its
    `loads-dir` option, else from the directory of the file the op was
    parsed from, else from the working directory.

    The sizes follow DeepSeek's EPLB: slots is a multiple of gpus and at
    least experts; when nodes divides groups (the hierarchical policy),
    groups also divides experts and nodes divides gpus. Otherwise the global
    policy applies and groups and nodes are not used.

    The body holds at most one `moe.placement`, the result of `--moe-eplb`.
  }];
  let arguments = (ins
    SymbolNameAttr:$sym_name,
    I64Attr:$layers,
    I64Attr:$experts,
    I64Attr:$groups,
    I64Attr:$nodes,
    I64Attr:$gpus,
    I64Attr:$slots,
    OptionalAttr<ElementsAttr>:$loads,
    OptionalAttr<StrAttr>:$loads_file);
  let regions = (region MaxSizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `layers` `=` $layers `experts` `=` $experts `groups` `=` $groups
    `nodes` `=` $nodes `gpus` `=` $gpus `slots` `=` $slots
    (`loads` `=` $loads^)? (`loads_file` `=` $loads_file^)?
    attr-dict-with-keyword ($body^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// The group's sizes as an EPLB problem, with the loads attribute's
    /// values when it has one (no loads otherwise).
    ::pipeweave::eplb::EplbProblem getProblem();
    /// The attached placement, if any.
    PlacementOp getPlacement();
  }];
}

def Moe_PlacementOp : Moe_Op<"placement", [HasParent<"ExpertGroupOp">]> {
  let summary = "Where each expert's replicas sit, for every layer";
  let description = [{
    ```mlir
    moe.placement policy = "reference" strategy = "hierarchical"
        phy2log = dense<...> : tensor<2x16xi64>
        log2phy = dense<...> : tensor<2x12x2xi64>
        logcnt = dense<...> : tensor<2x12xi64>
        balancedness = array<f64: 0.93, 0.87>
        max_load = array<f64: 270.0, 301.5>
    ```
    DeepSeek EPLB's outputs: `phy2log[l][s]` is the expert in slot `s` of
    layer `l` (slot `s` is on GPU `s / (slots / gpus)`); `log2phy[l][e]`
    lists the slots of expert `e`'s replicas by replica rank, padded with
    -1; `logcnt[l][e]` is its number of replicas. Per layer,
    `balancedness` is mean / max GPU load and `max_load` the max GPU load
    (a GPU's load is the sum of its replicas' expert loads divided by each
    expert's replica count). `policy` names the policy that produced it,
    `strategy` whether it placed hierarchically or globally, and `moved`
    (min-migration) how many slots changed expert against the placement it
    replaced.
  }];
  let arguments = (ins
    StrAttr:$policy,
    StrAttr:$strategy,
    I64ElementsAttr:$phy2log,
    I64ElementsAttr:$log2phy,
    I64ElementsAttr:$logcnt,
    DenseF64ArrayAttr:$balancedness,
    DenseF64ArrayAttr:$max_load,
    OptionalAttr<I64Attr>:$moved);
  let assemblyFormat = [{
    `policy` `=` $policy `strategy` `=` $strategy
    `phy2log` `=` $phy2log `log2phy` `=` $log2phy `logcnt` `=` $logcnt
    `balancedness` `=` $balancedness `max_load` `=` $max_load
    (`moved` `=` $moved^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The placement as a library value. Precondition: it verifies.
    ::pipeweave::eplb::Placement getValue();
  }];
}

#endif // PIPEWEAVE_MOE_OPS
