// RUN: pw-opt %s -split-input-file -sched-check-deadlock -verify-diagnostics | FileCheck %s

// A valid compute-only order passes and is left as it is.
// CHECK-LABEL: sched.program @ok
// CHECK:         sched.backward stage 1 mb 0
sched.program @ok ranks = 2 stages = 2 microbatches = 1 schedule = "1f1b" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
  }
}

// -----

// Cyclic wait without communication: rank 0 needs the gradient of micro-batch
// 0 before it runs forward 1, while rank 1 needs forward 1 before it runs
// micro-batch 0.
// expected-error @+1 {{@cycle deadlocks: 2 of 2 ranks cannot proceed}}
sched.program @cycle ranks = 2 stages = 2 microbatches = 2 schedule = "imported" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    // expected-note @+1 {{rank 0 waits at action 1 (0B0): 1B0 on rank 1}}
    sched.backward stage 0 mb 0
    sched.forward stage 0 mb 1
    sched.backward stage 0 mb 1
  }
  sched.rank 1 {
    // expected-note @+1 {{rank 1 waits at action 0 (1F1): 0F1 on rank 0}}
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
  }
}

// -----

// Blocking grouped send/recv: rank 0 sends activation 1 before activation 0,
// and rank 1 waits for activation 0 first. Each compute order alone is fine;
// the message order is not.
// expected-error @+1 {{@order deadlocks: 2 of 2 ranks cannot proceed}}
sched.program @order ranks = 2 stages = 2 microbatches = 2 schedule = "imported" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 0 mb 1
    // expected-note @+1 {{rank 0 waits at action 2 (0SEND_F1)}}
    sched.send activation stage 0 mb 1 to 1 bytes 0
    sched.recv gradient stage 0 mb 0 from 1 bytes 0
    sched.backward stage 0 mb 0
    sched.send activation stage 0 mb 0 to 1 bytes 0
    sched.recv gradient stage 0 mb 1 from 1 bytes 0
    sched.backward stage 0 mb 1
  }
  sched.rank 1 {
    // expected-note @+1 {{rank 1 waits at action 0 (1RECV_F0)}}
    sched.recv activation stage 1 mb 0 from 0 bytes 0
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
    sched.send gradient stage 1 mb 0 to 0 bytes 0
    sched.recv activation stage 1 mb 1 from 0 bytes 0
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.send gradient stage 1 mb 1 to 0 bytes 0
  }
}
