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
