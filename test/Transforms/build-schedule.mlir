// RUN: pw-opt %s -split-input-file -pipe-build-schedule -verify-diagnostics | FileCheck %s
// RUN: pw-opt %s -split-input-file -pipe-build-schedule | FileCheck %s --check-prefix=COSTS

// Megatron 1F1B, 2 ranks x 3 micro-batches, written out by hand: rank r runs
// min(N, R-1-r) warm-up forwards, then F/B pairs, then the remaining Bs.
// Message sizes come from the spec; the stage override replaces only the
// field it sets (gradient_bytes was given explicitly, so it stays 2048).
// CHECK-LABEL: sched.program @train ranks = 2 stages = 2 microbatches = 3 schedule = "1f1b" attributes {activation_bytes = array<i64: 4096, 100>, cost_model = {{{.*}}}, gradient_bytes = array<i64: 2048, 2048>} {
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:      sched.forward stage 0 mb 2
// CHECK-NEXT:      sched.backward stage 0 mb 1
// CHECK-NEXT:      sched.backward stage 0 mb 2
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.backward stage 1 mb 0
// CHECK-NEXT:      sched.forward stage 1 mb 1
// CHECK-NEXT:      sched.backward stage 1 mb 1
// CHECK-NEXT:      sched.forward stage 1 mb 2
// CHECK-NEXT:      sched.backward stage 1 mb 2
// CHECK-NEXT:    }
// CHECK-NEXT:  }
// CHECK-NOT:   pipe.pipeline
// The resolved per-stage costs travel with the program for the simulator.
// COSTS: sched.program @train {{.*}}cost_model = {activation_memory = array<i64: 4096, 100>, backward = array<f64: 2.000000e+00, 3.000000e+00>, backward_input = array<f64: 1.000000e+00, 2.000000e+00>, backward_weight = array<f64: 1.000000e+00, 1.000000e+00>, forward = array<f64: 1.000000e+00, 1.000000e+00>, kernels = {loss = ["", "ce"]}, overlapped = array<f64: 3.000000e+00, 4.000000e+00>, p2p_latency = 0.000000e+00 : f64}
pipe.pipeline @train ranks = 2 microbatches = 3 schedule = "1f1b" {
  pipe.tensor activation_bytes = 4096, gradient_bytes = 2048
  pipe.stage 1 {
    pipe.tensor activation_bytes = 100
    pipe.cost backward_input = 2.0, backward = 3.0
    pipe.kernels loss = "ce"
  }
}

// -----

// GPipe: all forwards, then all backwards in micro-batch order. No sizes
// given, so no size arrays.
// CHECK-LABEL: sched.program @gpipe ranks = 2 stages = 2 microbatches = 2 schedule = "gpipe" attributes {cost_model = {{.*}}} {
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:      sched.backward stage 0 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.forward stage 1 mb 1
// CHECK-NEXT:      sched.backward stage 1 mb 0
// CHECK-NEXT:      sched.backward stage 1 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:  }
pipe.pipeline @gpipe ranks = 2 microbatches = 2 schedule = "gpipe" {
}

// -----

// DualPipe on 2 ranks x 4 micro-batches, worked by hand from the reference's
// 8 steps: rank r holds stages r and 2R-1-r; both ranks are middle ranks, so
// their first F/B pair is deliberately not overlapped (0F1 then 3B0); the last
// backward of phase 0 is split into I now and W at the end.
// CHECK-LABEL: sched.program @dual ranks = 2 stages = 4 microbatches = 4 schedule = "dualpipe" directions = 2 attributes {cost_model = {{.*}}} {
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.forward stage 3 mb 0
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.backward stage 3 mb 0
// CHECK-NEXT:      sched.overlap forward stage 3 mb 1 backward stage 0 mb 0
// CHECK-NEXT:      sched.backward stage 3 mb 1
// CHECK-NEXT:      sched.backward_input stage 0 mb 1
// CHECK-NEXT:      sched.backward_weight stage 0 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.forward stage 2 mb 0
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.forward stage 2 mb 1
// CHECK-NEXT:      sched.backward stage 1 mb 0
// CHECK-NEXT:      sched.overlap forward stage 1 mb 1 backward stage 2 mb 0
// CHECK-NEXT:      sched.backward stage 1 mb 1
// CHECK-NEXT:      sched.backward_input stage 2 mb 1
// CHECK-NEXT:      sched.backward_weight stage 2 mb 1
// CHECK-NEXT:    }
pipe.pipeline @dual ranks = 2 microbatches = 4 schedule = "dualpipe" {
}

// -----

// The other kinds build too; their orders are checked exactly by the unit
// tests against the reference implementations.
// CHECK-LABEL: sched.program @v ranks = 2 stages = 4 microbatches = 4 schedule = "dualpipev" attributes {cost_model = {{.*}}} {
// CHECK-LABEL: sched.program @zbv ranks = 2 stages = 4 microbatches = 4 schedule = "zb-v" attributes {cost_model = {{.*}}} {
// CHECK-LABEL: sched.program @zbh1 ranks = 2 stages = 2 microbatches = 4 schedule = "zb-h1" attributes {cost_model = {{.*}}} {
// CHECK:         sched.backward_input stage 0 mb 0
// CHECK-LABEL: sched.program @interleaved ranks = 2 stages = 6 microbatches = 4 schedule = "interleaved-1f1b" attributes {cost_model = {{.*}}} {
pipe.pipeline @v ranks = 2 microbatches = 4 schedule = "dualpipev" {
}
pipe.pipeline @zbv ranks = 2 microbatches = 4 schedule = "zb-v" {
}
pipe.pipeline @zbh1 ranks = 2 microbatches = 4 schedule = "zb-h1" {
}
pipe.pipeline @interleaved ranks = 2 microbatches = 4 schedule = "interleaved-1f1b" stages_per_rank = 3 {
}

// -----

// Stage costs derived from components (issue 8), worked by hand. The layer
// (attn F 1 I 2 W 1; dispatch F 0.5, backward = forward; mlp F 2 I 4, no W;
// combine F 0.5 B 0.75) gives per layer F = 4, I = 2 + 0.5 + 4 + 0.75 =
// 7.25, W = 1. Stage 0 has 1 layer, stages 1 and 2 have 2; stage 3 is one
// "head" layer (F 3, I 3) whose forward is set to 2.5 by pipe.cost, which
// wins. B = I + W and overlapped = F + B as without components.
// COSTS-LABEL: sched.program @moe
// COSTS-SAME: backward = array<f64: 8.250000e+00, 1.650000e+01, 1.650000e+01, 3.000000e+00>, backward_input = array<f64: 7.250000e+00, 1.450000e+01, 1.450000e+01, 3.000000e+00>, backward_weight = array<f64: 1.000000e+00, 2.000000e+00, 2.000000e+00, 0.000000e+00>
// COSTS-SAME: component_lists = {{\[\[}}{backward_input = 2.000000e+00 : f64, backward_weight = 1.000000e+00 : f64, forward = 1.000000e+00 : f64, kind = "compute", name = "attn"}, {backward = 5.000000e-01 : f64, expert_group = @experts, forward = 5.000000e-01 : f64, kind = "all_to_all", name = "dispatch"}, {backward_input = 4.000000e+00 : f64, backward_weight = 0.000000e+00 : f64, forward = 2.000000e+00 : f64, kind = "compute", name = "mlp"}, {backward = 7.500000e-01 : f64, expert_group = @experts, forward = 5.000000e-01 : f64, kind = "all_to_all", name = "combine", row_bytes = 64 : i64, rows = 32 : i64}], [{backward_input = 3.000000e+00 : f64, backward_weight = 0.000000e+00 : f64, forward = 3.000000e+00 : f64, kernels = {forward = "head_fwd"}, kind = "compute", name = "head"}]]
// COSTS-SAME: expert_parallel = 2 : i64, forward = array<f64: 4.000000e+00, 8.000000e+00, 8.000000e+00, 2.500000e+00>, layers = array<i64: 1, 2, 2, 1>, overlapped = array<f64: 1.225000e+01, 2.450000e+01, 2.450000e+01, 5.500000e+00>
// COSTS-SAME: stage_components = array<i64: 0, 0, 0, 1>
moe.expert_group @experts layers = 8 experts = 4 groups = 1 nodes = 1 gpus = 2
    slots = 4 loads = dense<1.0> : tensor<8x4xf32>
pipe.pipeline @moe ranks = 2 microbatches = 4 schedule = "dualpipe" {
  pipe.layers 2 {
    pipe.component "attn" compute forward = 1.0, backward_input = 2.0,
        backward_weight = 1.0
    pipe.component "dispatch" all_to_all @experts forward = 0.5
    pipe.component "mlp" compute forward = 2.0, backward_input = 4.0
    pipe.component "combine" all_to_all @experts forward = 0.5, backward = 0.75,
        row_bytes = 64, rows = 32
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
