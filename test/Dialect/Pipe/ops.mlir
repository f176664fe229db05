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
