//===- Passes.td - pipeweave moe passes --------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_MOE_PASSES
#define PIPEWEAVE_MOE_PASSES

include "mlir/Pass/PassBase.td"

def MoeEplb : Pass<"moe-eplb", "::pipeweave::moe::ExpertGroupOp"> {
  let summary = "Balance the expert loads of a moe.expert_group and attach "
                "the placement";
  let description = [{
    Runs the EPLB library (a port of DeepSeek's EPLB) on the group's loads
    (its `loads` attribute, or the JSON file `loads_file` names) and puts
    the result in the group's body as a `moe.placement`, replacing any
    placement already there. With `min-migration` the placement already
    there is the previous one: the new placement keeps as many of its slots
    as relabelling GPUs allows and records `moved`.

    `policy` is a comma-separated list: at most one of `reference` (the
    default: DeepSeek's choice, hierarchical when nodes divides groups,
    else global), `hierarchical`, `global`, plus any of `refine`,
    `no-colocated-replicas` and `min-migration`.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"reference\"",
           "comma-separated EPLB policy: reference|hierarchical|global "
           "plus refine, no-colocated-replicas, min-migration">,
    Option<"loadsDir", "loads-dir", "std::string", /*default=*/"",
           "directory of relative loads_file paths (default: that of the "
           "file the group was parsed from, else the working directory)">,
  ];
}

#endif // PIPEWEAVE_MOE_PASSES
