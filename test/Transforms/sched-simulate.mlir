// RUN: pw-opt %s -split-input-file -pipe-build-schedule -sched-simulate -verify-diagnostics | FileCheck %s

// 1F1B, 2 ranks x 2 micro-batches, F = 1, B = 2, no latency, worked by hand:
// rank 0: F0 [0,1] F1 [1,2] B0 [4,6] B1 [7,9] (waits for rank 1's B1);
// rank 1: F0 [1,2] B0 [2,4] F1 [4,5] B1 [5,7]. Makespan 9; busy 6 each;
// bubbles 3 and 3; rank 0 keeps two activations, rank 1 one. The critical
// path F0 (rank 0), then rank 1's F0 B0 F1 B1, then B1 on rank 0 crosses
// ranks twice.
// CHECK-LABEL: sched.program @train
// CHECK-SAME: sched.simulation = {bubble = array<f64: 3.000000e+00, 3.000000e+00>, busy = array<f64: 6.000000e+00, 6.000000e+00>, critical_path_crossings = 2 : i64, makespan = 9.000000e+00 : f64, peak_activation_bytes = array<i64: 200, 100>, peak_activations = array<i64: 2, 1>}
pipe.pipeline @train ranks = 2 microbatches = 2 schedule = "1f1b" {
  pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 1.0
  pipe.tensor activation_bytes = 0, activation_memory = 100
}

// -----

// A program without a cost model cannot be simulated.
// expected-error @+1 {{@bare has no cost_model to simulate}}
sched.program @bare ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}
