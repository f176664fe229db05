//===- MoeDialect.td - the moe dialect ---------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_MOE_DIALECT
#define PIPEWEAVE_MOE_DIALECT

include "mlir/IR/OpBase.td"

def Moe_Dialect : Dialect {
  let name = "moe";
  let summary = "Mixture-of-experts layers and their expert placement";
  let description = [{
    A `moe.expert_group` describes the routed experts of a model's MoE
    layers (how many, in how many expert groups), the cluster that serves
    them (nodes, GPUs, physical expert slots) and the measured load of each
    expert in each layer. `--moe-eplb` balances the load (DeepSeek's EPLB
    and pipeweave's extensions) and attaches the result as a
    `moe.placement` in the group's body.
  }];
  let cppNamespace = "::pipeweave::moe";
}

class Moe_Op<string mnemonic, list<Trait> traits = []>
    : Op<Moe_Dialect, mnemonic, traits>;

#endif // PIPEWEAVE_MOE_DIALECT
