// RUN: pw-opt %s | FileCheck %s
// RUN: pw-opt %s | pw-opt | FileCheck %s
// RUN: pw-opt %s --mlir-print-op-generic | pw-opt | FileCheck %s

// Two ranks, 1F1B with split backward on rank 1, communication included.
// CHECK-LABEL: sched.program @train ranks = 2 stages = 2 microbatches = 2 schedule = "1f1b" attributes {activation_bytes = array<i64: 1024, 1024>, gradient_bytes = array<i64: 512, 512>} {
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.send activation stage 0 mb 0 to 1 bytes 1024
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.send activation stage 0 mb 1 to 1 bytes 1024
// CHECK-NEXT:      sched.recv gradient stage 0 mb 0 from 1 bytes 512
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:      sched.recv gradient stage 0 mb 1 from 1 bytes 512
// CHECK-NEXT:      sched.backward stage 0 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.recv activation stage 1 mb 0 from 0 bytes 1024
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.backward_input stage 1 mb 0
// CHECK-NEXT:      sched.send gradient stage 1 mb 0 to 0 bytes 512
// CHECK-NEXT:      sched.recv activation stage 1 mb 1 from 0 bytes 1024
// CHECK-NEXT:      sched.forward stage 1 mb 1
// CHECK-NEXT:      sched.backward_input stage 1 mb 1
// CHECK-NEXT:      sched.send gradient stage 1 mb 1 to 0 bytes 512
// CHECK-NEXT:      sched.backward_weight stage 1 mb 0
// CHECK-NEXT:      sched.backward_weight stage 1 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:  }
sched.program @train ranks = 2 stages = 2 microbatches = 2 schedule = "1f1b"
    attributes {activation_bytes = array<i64: 1024, 1024>,
                gradient_bytes = array<i64: 512, 512>} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.send activation stage 0 mb 0 to 1 bytes 1024
    sched.forward stage 0 mb 1
    sched.send activation stage 0 mb 1 to 1 bytes 1024
    sched.recv gradient stage 0 mb 0 from 1 bytes 512
    sched.backward stage 0 mb 0
    sched.recv gradient stage 0 mb 1 from 1 bytes 512
    sched.backward stage 0 mb 1
  }
  sched.rank 1 {
    sched.recv activation stage 1 mb 0 from 0 bytes 1024
    sched.forward stage 1 mb 0
    sched.backward_input stage 1 mb 0
    sched.send gradient stage 1 mb 0 to 0 bytes 512
    sched.recv activation stage 1 mb 1 from 0 bytes 1024
    sched.forward stage 1 mb 1
    sched.backward_input stage 1 mb 1
    sched.send gradient stage 1 mb 1 to 0 bytes 512
    sched.backward_weight stage 1 mb 0
    sched.backward_weight stage 1 mb 1
  }
}

// DualPipe-shaped: two directions, overlapped pairs, ranks listed out of
// order (they are matched by number).
// CHECK-LABEL: sched.program @pairs ranks = 2 stages = 4 microbatches = 4 schedule = "dualpipe" directions = 2 {
// CHECK:         sched.rank 1 {
// CHECK:           sched.overlap forward stage 1 mb 1 backward stage 1 mb 0
// CHECK:         sched.rank 0 {
sched.program @pairs ranks = 2 stages = 4 microbatches = 4 schedule = "dualpipe" directions = 2 {
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.forward stage 2 mb 0
    sched.overlap forward stage 1 mb 1 backward stage 1 mb 0
    sched.forward stage 2 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 2 mb 0
    sched.backward stage 2 mb 1
  }
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 0 mb 1
    sched.forward stage 3 mb 0
    sched.overlap forward stage 3 mb 1 backward stage 3 mb 0
    sched.backward stage 3 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// A rank may be empty.
// CHECK-LABEL: sched.program @idle ranks = 2 stages = 1 microbatches = 1 schedule = "imported" {
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:    }
sched.program @idle ranks = 2 stages = 1 microbatches = 1 schedule = "imported" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
  sched.rank 1 {
  }
}

// Components (issue 8): both stages are one layer of attention and an
// all-to-all; the overlapped pair carries its plan, each stream's items in
// the order listed. The cost model round-trips its component lists.
// CHECK-LABEL: sched.program @planned
// CHECK-SAME:    component_lists = {{\[\[}}{backward_input = 2.000000e+00 : f64, backward_weight = 1.000000e+00 : f64, forward = 1.000000e+00 : f64, kernels = {forward = "attn_fwd"}, kind = "compute", name = "attn"}, {backward = 1.500000e+00 : f64, expert_group = @experts, forward = 1.000000e+00 : f64, kind = "all_to_all", name = "a2a"}]]
// CHECK-SAME:    expert_parallel = 4 : i64
// CHECK-SAME:    layers = array<i64: 1, 1>
// CHECK-SAME:    stage_components = array<i64: 0, 0>
// CHECK:         sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
// CHECK-NEXT:      sched.component backward "a2a" layer 0 on comm
// CHECK-NEXT:      sched.component forward "attn" layer 0 on compute
// CHECK-NEXT:      sched.component forward "a2a" layer 0 on comm
// CHECK-NEXT:      sched.component backward_input "attn" layer 0 on compute
// CHECK-NEXT:      sched.component backward_weight "attn" layer 0 on compute
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.forward stage 1 mb 1
sched.program @planned ranks = 1 stages = 2 microbatches = 2 schedule = "x"
    attributes {cost_model = {
      forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.5, 3.5>,
      backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.5, 4.5>,
      overlapped = array<f64: 6.5, 6.5>, activation_memory = array<i64: 0, 0>,
      p2p_latency = 0.0, expert_parallel = 4,
      layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>,
      component_lists = [[
        {name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0,
         backward_weight = 1.0, kernels = {forward = "attn_fwd"}},
        {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.5,
         expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      sched.component backward "a2a" layer 0 on comm
      sched.component forward "attn" layer 0 on compute
      sched.component forward "a2a" layer 0 on comm
      sched.component backward_input "attn" layer 0 on compute
      sched.component backward_weight "attn" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}
