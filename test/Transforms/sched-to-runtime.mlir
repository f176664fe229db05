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
