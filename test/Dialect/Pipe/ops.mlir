// RUN: pw-opt %s | FileCheck %s
// RUN: pw-opt %s | pw-opt | FileCheck %s
// RUN: pw-opt %s --mlir-print-op-generic | pw-opt | FileCheck %s

// CHECK-LABEL: pipe.pipeline @train ranks = 4 microbatches = 8 schedule = "1f1b" {
// CHECK-NEXT:    pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 0.5, overlapped = 2.5
// CHECK-NEXT:    pipe.p2p latency = 0.05, bandwidth = 5.0e+10
// CHECK-NEXT:    pipe.tensor activation_bytes = 1572864, gradient_bytes = 1048576
// CHECK-NEXT:    pipe.kernels forward = "mlp_fwd", backward_input = "mlp_bwd_in", backward_weight = "mlp_bwd_w", loss = "mse_loss"
// CHECK-NEXT:    pipe.stage 0 {
// CHECK-NEXT:      pipe.cost forward = 1.4
// CHECK-NEXT:      pipe.kernels forward = "embed_fwd"
// CHECK-NEXT:    }
// CHECK-NEXT:    pipe.stage 3 {
// CHECK-NEXT:      pipe.tensor activation_memory = 0
// CHECK-NEXT:    }
// CHECK-NEXT:  }
pipe.pipeline @train ranks = 4 microbatches = 8 schedule = "1f1b" {
  // Integers are accepted where a cost is a float; fields may be reordered.
  pipe.cost backward_weight = 0.5, forward = 1, backward_input = 1.0, overlapped = 2.5
  pipe.p2p latency = 0.05, bandwidth = 50.0e9
  pipe.tensor activation_bytes = 1572864, gradient_bytes = 1048576
  pipe.kernels forward = "mlp_fwd", backward_input = "mlp_bwd_in",
               backward_weight = "mlp_bwd_w", loss = "mse_loss"
  pipe.stage 0 {
    pipe.cost forward = 1.4
    pipe.kernels forward = "embed_fwd"
  }
  pipe.stage 3 {
    pipe.tensor activation_memory = 0
  }
}

// Optional stages_per_rank; an empty body is a valid all-defaults spec.
// CHECK-LABEL: pipe.pipeline @interleaved ranks = 2 microbatches = 4 schedule = "interleaved-1f1b" stages_per_rank = 2 {
// CHECK-NEXT:  }
pipe.pipeline @interleaved ranks = 2 microbatches = 4 schedule = "interleaved-1f1b" stages_per_rank = 2 {
}

// The default stages per rank of V-shaped schedules is 2, so stage 7 exists.
// CHECK-LABEL: pipe.pipeline @v ranks = 4 microbatches = 8 schedule = "dualpipev" {
// CHECK:         pipe.stage 7 {
pipe.pipeline @v ranks = 4 microbatches = 8 schedule = "dualpipev" {
  pipe.stage 7 {
    pipe.cost backward = 3.0
  }
}

// CHECK-LABEL: pipe.pipeline @gpipe ranks = 1 microbatches = 1 schedule = "gpipe" {
pipe.pipeline @gpipe ranks = 1 microbatches = 1 schedule = "gpipe" {
}

// Components (issue 8): a layer of attention, dispatch, MLP and combine,
// repeated twice per stage; stage 0 repeats it once, stage 3 is a dense
// head. Defaults are not printed: mlp has no W, dispatch's backward is its
// forward.
// CHECK-LABEL: moe.expert_group @experts layers = 8
moe.expert_group @experts layers = 8 experts = 4 groups = 1 nodes = 1 gpus = 2
    slots = 4 loads = dense<1.0> : tensor<8x4xf32>
// CHECK-LABEL: pipe.pipeline @moe ranks = 2 microbatches = 4 schedule = "dualpipe" expert_parallel = 2 {
// CHECK-NEXT:    pipe.layers 2 {
// CHECK-NEXT:      pipe.component "attn" compute forward = 1.0, backward_input = 2.0, backward_weight = 1.0 kernels forward = "attn_fwd", backward_input = "attn_bwd_in", backward_weight = "attn_bwd_w"
// CHECK-NEXT:      pipe.component "dispatch" all_to_all @experts forward = 0.5
// CHECK-NEXT:      pipe.component "mlp" compute forward = 2.0, backward_input = 4.0
// CHECK-NEXT:      pipe.component "combine" all_to_all @experts forward = 0.5, backward = 0.75, row_bytes = 64, rows = 32
// CHECK-NEXT:    }
// CHECK-NEXT:    pipe.stage 0 {
// CHECK-NEXT:      pipe.layers 1
// CHECK-NEXT:    }
// CHECK-NEXT:    pipe.stage 3 {
// CHECK-NEXT:      pipe.cost forward = 2.5
// CHECK-NEXT:      pipe.layers 1 {
// CHECK-NEXT:        pipe.component "head" compute forward = 3.0, backward_input = 3.0 kernels forward = "head_fwd"
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:  }
pipe.pipeline @moe ranks = 2 microbatches = 4 schedule = "dualpipe"
    expert_parallel = 2 {
  pipe.layers 2 {
    pipe.component "attn" compute backward_weight = 1.0, forward = 1,
        backward_input = 2.0
        kernels backward_input = "attn_bwd_in", forward = "attn_fwd",
                backward_weight = "attn_bwd_w"
    pipe.component "dispatch" all_to_all @experts forward = 0.5
    pipe.component "mlp" compute forward = 2.0, backward_input = 4.0
    pipe.component "combine" all_to_all @experts forward = 0.5, backward = 0.75,
        rows = 32, row_bytes = 64
  }
  pipe.stage 0 {
    pipe.layers 1
  }
  pipe.stage 3 {
    pipe.cost forward = 2.5
    pipe.layers 1 {
      pipe.component "head" compute forward = 3.0, backward_input = 3.0
          kernels forward = "head_fwd"
    }
  }
}

// Without expert_parallel, the group's gpus give the degree; a component
// may name kernels without costs after them.
// CHECK-LABEL: pipe.pipeline @implied ranks = 1 microbatches = 1 schedule = "gpipe" {
// CHECK-NEXT:    pipe.layers 1 {
// CHECK-NEXT:      pipe.component "x" all_to_all @experts forward = 1.0
pipe.pipeline @implied ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.layers 1 {
    pipe.component "x" all_to_all @experts forward = 1.0
  }
}
