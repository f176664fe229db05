//===- PipeDialect.td - the pipe dialect -------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_PIPE_DIALECT
#define PIPEWEAVE_PIPE_DIALECT

include "mlir/IR/OpBase.td"

def Pipe_Dialect : Dialect {
  let name = "pipe";
  let summary = "Pipeline-parallel training specs, as users write them";
  let description = [{
    A `pipe.pipeline` names a model split over ranks, the number of
    micro-batches, the schedule to build and a cost model (uniform defaults
    with per-stage overrides). Passes lower it to the `sched` dialect.
  }];
  let cppNamespace = "::pipeweave::pipe";
}

class Pipe_Op<string mnemonic, list<Trait> traits = []>
    : Op<Pipe_Dialect, mnemonic, traits>;

#endif // PIPEWEAVE_PIPE_DIALECT
