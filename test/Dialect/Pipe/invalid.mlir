// RUN: pw-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{schedule '1f1b' needs microbatches >= ranks (got 2 < 4)}}
pipe.pipeline @few ranks = 4 microbatches = 2 schedule = "1f1b" {
}

// -----

// expected-error @+1 {{unknown schedule 'zigzag'; expected one of: gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-v, dualpipe, dualpipev}}
pipe.pipeline @bad ranks = 4 microbatches = 8 schedule = "zigzag" {
}

// -----

// expected-error @+1 {{'pipe.pipeline' op attribute 'ranks' failed to satisfy constraint}}
pipe.pipeline @zero ranks = 0 microbatches = 8 schedule = "gpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipe' needs an even number of ranks}}
pipe.pipeline @odd ranks = 3 microbatches = 12 schedule = "dualpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipe' needs microbatches >= 2 * ranks}}
pipe.pipeline @short ranks = 4 microbatches = 6 schedule = "dualpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipev' needs microbatches >= 2 * ranks}}
pipe.pipeline @shortv ranks = 4 microbatches = 7 schedule = "dualpipev" {
}

// -----

// expected-error @+1 {{schedule 'gpipe' needs stages per rank == 1 (got 2)}}
pipe.pipeline @gp ranks = 2 microbatches = 2 schedule = "gpipe" stages_per_rank = 2 {
}

// -----

pipe.pipeline @typo ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{unknown field 'fwd' in pipe.cost; expected one of: forward, backward_input, backward_weight, backward, overlapped}}
  pipe.cost fwd = 1.0
}

// -----

pipe.pipeline @twice ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' is set twice in pipe.cost}}
  pipe.cost forward = 1.0, forward = 2.0
}

// -----

pipe.pipeline @negative ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'backward_input' must be a finite, non-negative number (got -1.0)}}
  pipe.cost backward_input = -1.0
}

// -----

pipe.pipeline @string ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' expects a number, got "fast"}}
  pipe.cost forward = "fast"
}

// -----

pipe.pipeline @bandwidth ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'bandwidth' must be positive}}
  pipe.p2p latency = 1.0, bandwidth = 0.0
}

// -----

pipe.pipeline @bytes ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{attribute 'activation_bytes' failed to satisfy constraint}}
  pipe.tensor activation_bytes = -4
}

// -----

pipe.pipeline @emptykernel ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'loss' must name a kernel, not be empty}}
  pipe.kernels loss = ""
}

// -----

pipe.pipeline @nofields ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{sets no fields; expected at least one of: latency, bandwidth}}
  pipe.p2p
}

// -----

pipe.pipeline @range ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{overrides stage 2, but @range has only 2 stages (2 ranks x 1 per rank)}}
  pipe.stage 2 {
    pipe.cost forward = 2.0
  }
}

// -----

pipe.pipeline @dupstage ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-note @+1 {{first override is here}}
  pipe.stage 1 {
    pipe.cost forward = 2.0
  }
  // expected-error @+1 {{overrides stage 1 a second time; merge it with the first override}}
  pipe.stage 1 {
    pipe.cost backward = 2.0
  }
}

// -----

pipe.pipeline @dupcost ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-note @+1 {{first one is here}}
  pipe.cost forward = 2.0
  // expected-error @+1 {{appears twice in one pipe.pipeline body; merge its fields into the first one}}
  pipe.cost backward = 2.0
}

// -----

pipe.pipeline @p2pinstage ranks = 2 microbatches = 2 schedule = "gpipe" {
  pipe.stage 0 {
    // expected-error @+1 {{expects parent op 'pipe.pipeline'}}
    pipe.p2p latency = 1.0
  }
}

// -----

pipe.pipeline @foreign ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{is not allowed in a pipe.pipeline body; expected pipe.cost, pipe.p2p, pipe.tensor, pipe.kernels, pipe.layers or pipe.stage}}
  builtin.module {
  }
}

// -----

// expected-error @+1 {{'pipe.cost' op must appear directly in a pipe.pipeline or pipe.stage body}}
pipe.cost forward = 1.0

// -----

// expected-error @+1 {{overlapped F&B cost 1.5 of stage 1 is less than its slower half (backward 2.0); an overlapped pair takes at least max(forward, backward)}}
pipe.pipeline @overlap ranks = 2 microbatches = 4 schedule = "dualpipev" {
  pipe.cost forward = 1.0, backward = 1.8, overlapped = 1.9
  // expected-note @+1 {{stage 1 is overridden here}}
  pipe.stage 1 {
    pipe.cost backward = 2.0, overlapped = 1.5
  }
}

// -----

// expected-error @+1 {{expected '='}}
pipe.pipeline @syntax ranks 4 microbatches = 8 schedule = "1f1b" {
}

// -----

pipe.pipeline @intbytes ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'activation_bytes' expects an integer, got 1.500000e+00 : f64}}
  pipe.tensor activation_bytes = 1.5
}

// -----

pipe.pipeline @kernelname ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' expects a quoted kernel name, got 3 : i64}}
  pipe.kernels forward = 3
}

// -----
// Components (issue 8)

pipe.pipeline @kind ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{component kind must be compute or all_to_all, got 'gpu'}}
    pipe.component "attn" gpu forward = 1.0
  }
}

// -----

pipe.pipeline @costname ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{unknown field 'fwd' in pipe.component; expected one of: forward, backward_input, backward_weight, backward}}
    pipe.component "attn" compute fwd = 1.0
  }
}

// -----

pipe.pipeline @kernelname ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{unknown field 'loss' in the kernels of pipe.component; expected one of: forward, backward_input, backward_weight}}
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0 kernels loss = "ce"
  }
}

// -----

pipe.pipeline @missing ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{compute component 'attn' needs forward and backward_input costs}}
    pipe.component "attn" compute forward = 1.0
  }
}

// -----

pipe.pipeline @computebackward ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{compute component 'attn' sets 'backward'; a compute component has backward_input and backward_weight}}
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0, backward = 2.0
  }
}

// -----

moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @computegroup ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{compute component 'mlp' names @experts; only an all_to_all runs among an expert group}}
    pipe.component "mlp" compute @experts forward = 1.0, backward_input = 1.0
  }
}

// -----

pipe.pipeline @nogroup ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{all_to_all component 'dispatch' needs the moe.expert_group whose placement routes it (all_to_all @group)}}
    pipe.component "dispatch" all_to_all forward = 1.0
  }
}

// -----

moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @commweights ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{all_to_all component 'dispatch' sets 'backward_weight'; an all-to-all has forward and backward costs}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0, backward_weight = 1.0
  }
}

// -----

moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @commkernels ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{all_to_all component 'dispatch' takes no kernels; the runtime's all-to-all moves its tokens}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0 kernels forward = "a2a"
  }
}

// -----

moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @halfrows ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{all_to_all component 'dispatch' sets one of 'row_bytes' and 'rows'; give both (the size of its buffers) or neither}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0, rows = 4
  }
}

// -----

moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @zerorows ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{field 'rows' of component 'dispatch' must be positive (got 0)}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0, row_bytes = 8, rows = 0
  }
}

// -----

pipe.pipeline @computerows ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{compute component 'mlp' sets 'row_bytes'; only an all_to_all has rows}}
    pipe.component "mlp" compute forward = 1.0, backward_input = 1.0, row_bytes = 8
  }
}

// -----

pipe.pipeline @negativecomponent ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{field 'backward_input' of component 'attn' must be a finite, non-negative number (got -2.0)}}
    pipe.component "attn" compute forward = 1.0, backward_input = -2.0
  }
}

// -----

pipe.pipeline @twice ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-note @+1 {{first one is here}}
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0
    // expected-error @+1 {{names component 'attn' a second time in one layer}}
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0
  }
}

// -----

// A body with a block but no components (only the generic form writes one).
pipe.pipeline @emptylayer ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-error @+1 {{has an empty body; list the layer's components}}
  "pipe.layers"() ({
  ^bb0:
  }) {count = 1 : i64} : () -> ()
}

// -----

pipe.pipeline @nobody ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-error @+1 {{at the pipeline level needs a body with the components of one layer}}
  pipe.layers 2
}

// -----

pipe.pipeline @emptybody ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-error @+1 {{at the pipeline level needs a body with the components of one layer}}
  pipe.layers 2 {
  }
}

// -----

pipe.pipeline @nothingtorepeat ranks = 2 microbatches = 2 schedule = "gpipe" {
  pipe.stage 1 {
    // expected-error @+1 {{repeats the pipeline's components 2 times in stage 1, but @nothingtorepeat has no pipe.layers to take them from}}
    pipe.layers 2
  }
}

// -----

pipe.pipeline @layerzero ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-error @+1 {{attribute 'count' failed to satisfy constraint}}
  pipe.layers 0 {
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0
  }
}

// -----

pipe.pipeline @costinlayer ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{'pipe.cost' op must appear directly in a pipe.pipeline or pipe.stage body}}
    pipe.cost forward = 1.0
  }
}

// -----

pipe.pipeline @stray ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-error @+1 {{'pipe.component' op expects parent op 'pipe.layers'}}
  pipe.component "attn" compute forward = 1.0, backward_input = 1.0
}

// -----

pipe.pipeline @layerstwice ranks = 1 microbatches = 1 schedule = "gpipe" {
  // expected-note @+1 {{first one is here}}
  pipe.layers 1 {
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0
  }
  // expected-error @+1 {{appears twice in one pipe.pipeline body}}
  pipe.layers 2 {
    pipe.component "attn" compute forward = 1.0, backward_input = 1.0
  }
}

// -----

sched.program @experts ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}
pipe.pipeline @notagroup ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-error @+1 {{names @experts, which is not a moe.expert_group}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0
  }
}

// -----

// expected-note @+1 {{@experts is here}}
moe.expert_group @experts layers = 4 experts = 8 groups = 1 nodes = 1 gpus = 4 slots = 8 loads = dense<1.0> : tensor<4x8xf32>
pipe.pipeline @degree ranks = 1 microbatches = 1 schedule = "gpipe" expert_parallel = 8 {
  pipe.layers 1 {
    // expected-error @+1 {{runs its all-to-all among the 4 GPUs of @experts, but @degree has expert_parallel = 8; the all-to-all of a pipeline rank runs among its expert_parallel processes, so gpus must equal expert_parallel}}
    pipe.component "dispatch" all_to_all @experts forward = 1.0
  }
}

// -----

moe.expert_group @four layers = 4 experts = 8 groups = 1 nodes = 1 gpus = 4 slots = 8 loads = dense<1.0> : tensor<4x8xf32>
moe.expert_group @two layers = 4 experts = 8 groups = 1 nodes = 1 gpus = 2 slots = 8 loads = dense<1.0> : tensor<4x8xf32>
pipe.pipeline @disagree ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    // expected-note @+1 {{first group named here}}
    pipe.component "dispatch" all_to_all @four forward = 1.0
    // expected-error @+1 {{names @two over 2 GPUs, but component 'dispatch' names @four over 4 GPUs; every group must span the expert_parallel processes of a pipeline rank}}
    pipe.component "combine" all_to_all @two forward = 1.0
  }
}

// -----

// expected-note @+1 {{@experts is here}}
moe.expert_group @experts layers = 4 experts = 8 groups = 1 nodes = 1 gpus = 2 slots = 8 loads = dense<1.0> : tensor<4x8xf32>
// Two stages of 3 layers in one direction need 6 layers of placements.
// expected-error @+1 {{stages 0..1 hold 6 layers whose all-to-alls use @experts, but it places experts for only 4 layers}}
pipe.pipeline @toomany ranks = 2 microbatches = 2 schedule = "gpipe" {
  pipe.layers 3 {
    pipe.component "dispatch" all_to_all @experts forward = 1.0
  }
}
