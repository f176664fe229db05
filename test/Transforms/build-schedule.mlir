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
