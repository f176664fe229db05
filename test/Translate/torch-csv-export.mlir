// RUN: pw-translate --sched-to-torch-csv %s | FileCheck %s --match-full-lines

// One line per rank in rank order (not text order), compute actions only,
// overlapped pairs in PyTorch's OVERLAP_F_B form.
// CHECK:      0F0,0F1,3F0,(3F1;3B0)OVERLAP_F_B,3B1,0B0,0B1
// CHECK-NEXT: 1F0,2F0,(1F1;1B0)OVERLAP_F_B,2F1,1B1,2B0,2B1
// CHECK-EMPTY:
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
