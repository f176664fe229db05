// RUN: pw-opt %s -split-input-file -pw-compile | FileCheck %s
// Planning again, or re-inserting communication, keeps the plans.
// RUN: pw-opt %s -split-input-file -pw-compile | pw-opt -split-input-file -sched-overlap-fb -sched-insert-comm | FileCheck %s
// Each stream's order, on its own:
// RUN: pw-opt %s -split-input-file -pw-compile | grep -E "on +compute" | FileCheck %s --check-prefix=COMPUTE
// RUN: pw-opt %s -split-input-file -pw-compile | grep -E "on +comm$" | FileCheck %s --check-prefix=COMM

// One layer of attn (F 2, I 3, W 1) and an all-to-all (F 2, B 1), worked by
// hand. The compute stream must run forward attn first: starting with the
// backward input instead waits for the backward all-to-all (1) and pushes
// forward attn to 4 and its all-to-all to 6..8. So: compute attn F [0,2],
// attn I [2,5], attn W [5,6]; comm a2a B [0,1], a2a F [2,4]; makespan 6 =
// the compute work, with all communication under compute. Both DualPipe
// pairs (stages 3&0 on rank 0, 1&2 on rank 1) get this plan.
// CHECK-LABEL: sched.program @tiny
// CHECK-SAME:    layers = array<i64: 1, 1, 1, 1>
// CHECK:         sched.overlap forward stage 3 mb 1 backward stage 0 mb 0 {
// CHECK-DAG:       sched.component forward "attn" layer 0 on compute
// CHECK-DAG:       sched.component backward "a2a" layer 0 on comm
// CHECK:           sched.component {{forward "a2a" layer 0 on comm|backward_input "attn" layer 0 on compute}}
// CHECK-NEXT:      sched.component {{forward "a2a" layer 0 on comm|backward_input "attn" layer 0 on compute}}
// CHECK-NEXT:      sched.component backward_weight "attn" layer 0 on compute
// CHECK-NEXT:    }
// CHECK:         sched.overlap forward stage 1 mb 1 backward stage 2 mb 0 {
// CHECK-COUNT-5:   sched.component
// CHECK-NEXT:    }
// COMPUTE:      sched.component forward "attn" layer 0 on compute
// COMPUTE-NEXT: sched.component backward_input "attn" layer 0 on compute
// COMPUTE-NEXT: sched.component backward_weight "attn" layer 0 on compute
// COMM:      sched.component backward "a2a" layer 0 on comm
// COMM-NEXT: sched.component forward "a2a" layer 0 on comm
moe.expert_group @experts layers = 2 experts = 2 groups = 1 nodes = 1 gpus = 1
    slots = 2 loads = dense<1.0> : tensor<2x2xf32>
pipe.pipeline @tiny ranks = 2 microbatches = 4 schedule = "dualpipe" {
  pipe.layers 1 {
    pipe.component "attn" compute forward = 2.0, backward_input = 3.0,
        backward_weight = 1.0
    pipe.component "a2a" all_to_all @experts forward = 2.0, backward = 1.0
  }
}

// -----

// Only stage 0 has components: rank 0's pair (forward of stage 3, a plain
// chunk; backward of stage 0) is planned with the chunk as one compute
// item; rank 1's pair of plain stages 1 and 2 keeps costing `overlapped`.
// CHECK-LABEL: sched.program @mixed
// CHECK:         sched.overlap forward stage 3 mb 1 backward stage 0 mb 0 {
// CHECK-DAG:       sched.component forward "chunk" layer 0 on compute
// CHECK-DAG:       sched.component backward "a2a" layer 0 on comm
// CHECK-DAG:       sched.component backward_input "attn" layer 0 on compute
// CHECK-DAG:       sched.component backward_weight "attn" layer 0 on compute
// CHECK:         }
// CHECK:         sched.overlap forward stage 1 mb 1 backward stage 2 mb 0{{$}}
// COMPUTE:      sched.component forward "chunk" layer 0 on compute
moe.expert_group @experts layers = 2 experts = 2 groups = 1 nodes = 1 gpus = 1
    slots = 2 loads = dense<1.0> : tensor<2x2xf32>
pipe.pipeline @mixed ranks = 2 microbatches = 4 schedule = "dualpipe" {
  pipe.stage 0 {
    pipe.layers 1 {
      pipe.component "attn" compute forward = 2.0, backward_input = 3.0,
          backward_weight = 1.0
      pipe.component "a2a" all_to_all @experts forward = 2.0, backward = 1.0
    }
  }
}

// -----

// Without components nothing is planned.
// CHECK-LABEL: sched.program @plain
// CHECK-NOT:     sched.component
// CHECK:         sched.overlap forward stage 3 mb 1 backward stage 0 mb 0{{$}}
// CHECK-NOT:     sched.component
pipe.pipeline @plain ranks = 2 microbatches = 4 schedule = "dualpipe" {
}
