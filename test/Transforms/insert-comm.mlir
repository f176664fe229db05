// RUN: pw-opt %s -split-input-file -sched-insert-comm | FileCheck %s
// RUN: pw-opt %s -split-input-file -sched-insert-comm -sched-insert-comm | FileCheck %s

// 1F1B on 2 ranks. Before each compute action sits one group: the sends of
// the previous compute action's outputs, then the receives this action
// needs; the last stage's backward needs no gradient (the loss is local).
// CHECK-LABEL: sched.program @train
// CHECK-NEXT:    sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.send activation stage 0 mb 0 to 1 bytes 64
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.send activation stage 0 mb 1 to 1 bytes 64
// CHECK-NEXT:      sched.recv gradient stage 0 mb 0 from 1 bytes 32
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:      sched.recv gradient stage 0 mb 1 from 1 bytes 32
// CHECK-NEXT:      sched.backward stage 0 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.recv activation stage 1 mb 0 from 0 bytes 64
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.backward stage 1 mb 0
// CHECK-NEXT:      sched.send gradient stage 1 mb 0 to 0 bytes 32
// CHECK-NEXT:      sched.recv activation stage 1 mb 1 from 0 bytes 64
// CHECK-NEXT:      sched.forward stage 1 mb 1
// CHECK-NEXT:      sched.backward stage 1 mb 1
// CHECK-NEXT:      sched.send gradient stage 1 mb 1 to 0 bytes 32
// CHECK-NEXT:    }
sched.program @train ranks = 2 stages = 2 microbatches = 2 schedule = "1f1b"
    attributes {activation_bytes = array<i64: 64, 64>,
                gradient_bytes = array<i64: 32, 32>} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 0 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
  }
}

// -----

// A V shape: stages 1 and 2 share rank 1, so the turn needs no message; an
// overlapped pair receives for both halves and sends for both. No sizes:
// messages carry 0 bytes.
// CHECK-LABEL: sched.program @v
// CHECK:         sched.rank 0 {
// CHECK-NEXT:      sched.forward stage 0 mb 0
// CHECK-NEXT:      sched.send activation stage 0 mb 0 to 1 bytes 0
// CHECK-NEXT:      sched.forward stage 0 mb 1
// CHECK-NEXT:      sched.send activation stage 0 mb 1 to 1 bytes 0
// CHECK-NEXT:      sched.recv activation stage 3 mb 0 from 1 bytes 0
// CHECK-NEXT:      sched.forward stage 3 mb 0
// CHECK-NEXT:      sched.recv activation stage 3 mb 1 from 1 bytes 0
// CHECK-NEXT:      sched.overlap forward stage 3 mb 1 backward stage 3 mb 0
// CHECK-NEXT:      sched.send gradient stage 3 mb 0 to 1 bytes 0
// CHECK-NEXT:      sched.backward stage 3 mb 1
// CHECK-NEXT:      sched.send gradient stage 3 mb 1 to 1 bytes 0
// CHECK-NEXT:      sched.recv gradient stage 0 mb 0 from 1 bytes 0
// CHECK-NEXT:      sched.backward stage 0 mb 0
// CHECK-NEXT:      sched.recv gradient stage 0 mb 1 from 1 bytes 0
// CHECK-NEXT:      sched.backward stage 0 mb 1
// CHECK-NEXT:    }
// CHECK-NEXT:    sched.rank 1 {
// CHECK-NEXT:      sched.recv activation stage 1 mb 0 from 0 bytes 0
// CHECK-NEXT:      sched.forward stage 1 mb 0
// CHECK-NEXT:      sched.forward stage 2 mb 0
// CHECK-NEXT:      sched.send activation stage 2 mb 0 to 0 bytes 0
// CHECK-NEXT:      sched.recv activation stage 1 mb 1 from 0 bytes 0
// CHECK-NEXT:      sched.forward stage 1 mb 1
// CHECK-NEXT:      sched.forward stage 2 mb 1
// CHECK-NEXT:      sched.send activation stage 2 mb 1 to 0 bytes 0
// CHECK-NEXT:      sched.recv gradient stage 2 mb 0 from 0 bytes 0
// CHECK-NEXT:      sched.backward stage 2 mb 0
// CHECK-NEXT:      sched.backward stage 1 mb 0
// CHECK-NEXT:      sched.send gradient stage 1 mb 0 to 0 bytes 0
// CHECK-NEXT:      sched.recv gradient stage 2 mb 1 from 0 bytes 0
// CHECK-NEXT:      sched.backward stage 2 mb 1
// CHECK-NEXT:      sched.backward stage 1 mb 1
// CHECK-NEXT:      sched.send gradient stage 1 mb 1 to 0 bytes 0
// CHECK-NEXT:    }
sched.program @v ranks = 2 stages = 4 microbatches = 2 schedule = "dualpipev" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 0 mb 1
    sched.forward stage 3 mb 0
    sched.overlap forward stage 3 mb 1 backward stage 3 mb 0
    sched.backward stage 3 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.forward stage 2 mb 0
    sched.forward stage 1 mb 1
    sched.forward stage 2 mb 1
    sched.backward stage 2 mb 0
    sched.backward stage 1 mb 0
    sched.backward stage 2 mb 1
    sched.backward stage 1 mb 1
  }
}
