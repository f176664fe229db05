// RUN: pw-opt %s -split-input-file -pw-compile -sched-to-runtime -verify-diagnostics | FileCheck %s

// 1F1B on 2 ranks x 2 micro-batches, 100-byte activations, 50-byte
// gradients, 1000 bytes kept per micro-batch. The slots and the minimal
// events of rank 1 are the ones worked out by hand in the unit test
// (RuntimePlanTest.OneFOneBLastRankByHand). Tags name a message by its
// producer: 2 * (stage * micro-batches per stage + mb) + (1 for a gradient).
// CHECK-LABEL: pwrt.program @train ranks = 2 {
// CHECK:         pwrt.rank 1 pool 1150 {
// CHECK-NEXT:      %[[C:.*]] = pwrt.stream "compute"
// CHECK-NEXT:      %[[M:.*]] = pwrt.stream "comm"
// CHECK-NEXT:      pwrt.p2p_group on %[[M]] {
// CHECK-NEXT:        pwrt.recv activation stage 1 mb 0 from 0 tag 0 slot 0+100
// CHECK-NEXT:      }
// CHECK-NEXT:      %[[E0:.*]] = pwrt.record %[[M]]
// CHECK-NEXT:      pwrt.wait %[[C]] for %[[E0]]
// CHECK-NEXT:      pwrt.launch forward "f" stage 1 mb 0 on %[[C]] (input = 0+100, saved = 100+1000)
// CHECK-NEXT:      pwrt.launch backward "b" stage 1 mb 0 on %[[C]] (saved = 100+1000, grad_input = 0+50)
// CHECK-NEXT:      %[[E1:.*]] = pwrt.record %[[C]]
// CHECK-NEXT:      pwrt.wait %[[M]] for %[[E1]]
// CHECK-NEXT:      pwrt.p2p_group on %[[M]] {
// CHECK-NEXT:        pwrt.send gradient stage 1 mb 0 to 0 tag 5 slot 0+50
// CHECK-NEXT:        pwrt.recv activation stage 1 mb 1 from 0 tag 2 slot 50+100
// CHECK-NEXT:      }
// CHECK-NOT:   sched.
pipe.pipeline @train ranks = 2 microbatches = 2 schedule = "1f1b" {
  pipe.tensor activation_bytes = 100, gradient_bytes = 50, activation_memory = 1000
  pipe.kernels forward = "f", backward = "b"
}

// -----

// Without a fused backward kernel, B runs as backward_input then
// backward_weight; the last stage's loss kernel follows each forward and
// writes the gradient the backward reads.
// CHECK-LABEL: pwrt.program @split ranks = 1 {
// CHECK:         pwrt.launch forward "f" stage 0 mb 0 on %{{.*}} (output = [[OUT:[0-9]+\+8]], saved = {{.*}})
// CHECK-NEXT:    pwrt.launch loss "mse" stage 0 mb 0 on %{{.*}} (input = [[OUT]], grad_output = [[GRAD:[0-9]+\+8]])
// CHECK-NEXT:    pwrt.launch backward_input "bi" stage 0 mb 0 on %{{.*}} (saved = {{.*}}, grad_output = [[GRAD]])
// CHECK-NEXT:    pwrt.launch backward_weight "bw" stage 0 mb 0 on %{{.*}} (saved = {{.*}}, grad_output = [[GRAD]])
pipe.pipeline @split ranks = 1 microbatches = 1 schedule = "gpipe" {
  pipe.tensor activation_bytes = 8, activation_memory = 16
  pipe.kernels forward = "f", backward_input = "bi", backward_weight = "bw", loss = "mse"
}

// -----

// A missing kernel is a located error that says how to name one.
// expected-error @+1 {{cannot lower @nokernels to the runtime: stage 0 has no forward kernel; name one with `pipe.kernels forward = "..."`}}
pipe.pipeline @nokernels ranks = 2 microbatches = 2 schedule = "gpipe" {
}

// -----

// A stage of components (issue 8) runs its items: one layer of compute a,
// all-to-all x, compute b on 2 expert-parallel processes. x's slots hold
// 8 * 2 bytes of row counts and 4 rows of 8 bytes: 48. The forward chain
// is a, x, b (a writes x's send slot, b reads its receive slot and writes
// the output), then the loss; the backward chain is b's I, x's backward, a's
// I (stage 0: no grad_input) and a's W right after it; b has no W kernel,
// so no W item. The comm stream waits for the compute item that filled the
// send slot, and the compute stream for the all-to-all that filled the
// receive slot.
// CHECK-LABEL: pwrt.program @chain ranks = 1 expert_parallel = 2 {
// CHECK:         %[[C:.*]] = pwrt.stream "compute"
// CHECK-NEXT:    %[[M:.*]] = pwrt.stream "comm"
// CHECK-NEXT:    pwrt.launch forward "a_f" stage 0 mb 0 layer 0 on %[[C]] (output = [[FSEND:[0-9]+\+48]])
// CHECK-NEXT:    %[[E0:.*]] = pwrt.record %[[C]]
// CHECK-NEXT:    pwrt.wait %[[M]] for %[[E0]]
// CHECK-NEXT:    pwrt.all_to_all "x" forward stage 0 mb 0 layer 0 on %[[M]] (send = [[FSEND]], recv = [[FRECV:[0-9]+\+48]]) row_bytes 8
// CHECK-NEXT:    %[[E1:.*]] = pwrt.record %[[M]]
// CHECK-NEXT:    pwrt.wait %[[C]] for %[[E1]]
// CHECK-NEXT:    pwrt.launch forward "b_f" stage 0 mb 0 layer 0 on %[[C]] (input = [[FRECV]], output = [[OUT:[0-9]+\+8]])
// CHECK-NEXT:    pwrt.launch loss "l" stage 0 mb 0 on %[[C]] (input = [[OUT]], grad_output = [[GRAD:[0-9]+\+8]])
// CHECK-NEXT:    pwrt.launch backward_input "b_i" stage 0 mb 0 layer 0 on %[[C]] (grad_output = [[GRAD]], grad_input = [[BSEND:[0-9]+\+48]])
// CHECK-NEXT:    %[[E2:.*]] = pwrt.record %[[C]]
// CHECK-NEXT:    pwrt.wait %[[M]] for %[[E2]]
// CHECK-NEXT:    pwrt.all_to_all "x" backward stage 0 mb 0 layer 0 on %[[M]] (send = [[BSEND]], recv = [[BRECV:[0-9]+\+48]]) row_bytes 8
// CHECK-NEXT:    %[[E3:.*]] = pwrt.record %[[M]]
// CHECK-NEXT:    pwrt.wait %[[C]] for %[[E3]]
// CHECK-NEXT:    pwrt.launch backward_input "a_i" stage 0 mb 0 layer 0 on %[[C]] (grad_output = [[BRECV]])
// CHECK-NEXT:    pwrt.launch backward_weight "a_w" stage 0 mb 0 layer 0 on %[[C]] ()
// CHECK-NEXT:  }
moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 2 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
pipe.pipeline @chain ranks = 1 microbatches = 1 schedule = "gpipe" expert_parallel = 2 {
  pipe.tensor activation_bytes = 8, activation_memory = 16
  pipe.kernels loss = "l"
  pipe.layers 1 {
    pipe.component "a" compute forward = 1.0, backward_input = 1.0, backward_weight = 1.0
        kernels forward = "a_f", backward_input = "a_i", backward_weight = "a_w"
    pipe.component "x" all_to_all @experts forward = 1.0, row_bytes = 8, rows = 4
    pipe.component "b" compute forward = 1.0, backward_input = 1.0
        kernels forward = "b_f", backward_input = "b_i"
  }
}

// -----

// A layer used for lowering starts and ends with a compute component.
// expected-error @+1 {{cannot lower @starts to the runtime: stage 0's layer starts with the all-to-all 'x'; to be lowered, a layer must start and end with a compute component}}
pipe.pipeline @starts ranks = 1 microbatches = 1 schedule = "gpipe" expert_parallel = 2 {
  pipe.tensor activation_bytes = 8, activation_memory = 16
  pipe.layers 1 {
    pipe.component "x" all_to_all @experts forward = 1.0, row_bytes = 8, rows = 4
    pipe.component "b" compute forward = 1.0, backward_input = 1.0
        kernels forward = "b_f", backward_input = "b_i"
  }
}
moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 2 slots = 2 loads = dense<1.0> : tensor<1x2xf32>

// -----

// An all-to-all without row_bytes and rows has no buffer size.
// expected-error @+1 {{cannot lower @unsized to the runtime: all_to_all component 'x' of stage 0 needs `row_bytes` and `rows` (the size of its buffers) to be lowered}}
pipe.pipeline @unsized ranks = 1 microbatches = 1 schedule = "gpipe" expert_parallel = 2 {
  pipe.tensor activation_bytes = 8, activation_memory = 16
  pipe.layers 1 {
    pipe.component "a" compute forward = 1.0, backward_input = 1.0
        kernels forward = "a_f", backward_input = "a_i"
    pipe.component "x" all_to_all @experts forward = 1.0
    pipe.component "b" compute forward = 1.0, backward_input = 1.0
        kernels forward = "b_f", backward_input = "b_i"
  }
}
moe.expert_group @experts layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 2 slots = 2 loads = dense<1.0> : tensor<1x2xf32>
