// RUN: pw-opt %s | FileCheck %s
// RUN: pw-opt %s | pw-opt | FileCheck %s
// RUN: pw-opt %s --mlir-print-op-generic | pw-opt | FileCheck %s

// CHECK-LABEL: pwrt.program @step ranks = 2 {
// CHECK-NEXT:    pwrt.rank 0 pool 3000 {
// CHECK-NEXT:      %[[C:.*]] = pwrt.stream "compute"
// CHECK-NEXT:      %[[M:.*]] = pwrt.stream "comm"
// CHECK-NEXT:      pwrt.launch forward "fwd" stage 0 mb 0 on %[[C]] (output = 1000+100, saved = 0+1000)
// CHECK-NEXT:      %[[E:.*]] = pwrt.record %[[C]]
// CHECK-NEXT:      pwrt.wait %[[M]] for %[[E]]
// CHECK-NEXT:      pwrt.p2p_group on %[[M]] {
// CHECK-NEXT:        pwrt.send activation stage 0 mb 0 to 1 tag 0 slot 1000+100
// CHECK-NEXT:        pwrt.recv gradient stage 0 mb 0 from 1 tag 3 slot 1100+100
// CHECK-NEXT:      }
// CHECK:           pwrt.launch backward "bwd" stage 0 mb 0 on %[[C]] (saved = 0+1000, grad_output = 1100+100)
// CHECK:         pwrt.rank 1 pool 0 {
pwrt.program @step ranks = 2 {
  pwrt.rank 0 pool 3000 {
    %compute = pwrt.stream "compute"
    %comm = pwrt.stream "comm"
    // Buffers are listed by role in a fixed order, whatever the input order.
    pwrt.launch forward "fwd" stage 0 mb 0 on %compute (saved = 0+1000, output = 1000+100)
    %produced = pwrt.record %compute
    pwrt.wait %comm for %produced
    pwrt.p2p_group on %comm {
      pwrt.send activation stage 0 mb 0 to 1 tag 0 slot 1000+100
      pwrt.recv gradient stage 0 mb 0 from 1 tag 3 slot 1100+100
    }
    %received = pwrt.record %comm
    pwrt.wait %compute for %received
    pwrt.launch backward "bwd" stage 0 mb 0 on %compute (grad_output = 1100+100, saved = 0+1000)
  }
  pwrt.rank 1 pool 0 {
  }
}

// A component launch names its layer; an all-to-all reads its send slot and
// writes its receive slot.
// CHECK-LABEL: pwrt.program @moe ranks = 1 {
// CHECK:         pwrt.launch forward "attn" stage 1 mb 2 layer 0 on %[[C:.*]] (output = 0+2320)
// CHECK-NEXT:    pwrt.all_to_all "dispatch" forward stage 1 mb 2 layer 0 on %[[M:.*]] (send = 0+2320, recv = 2368+2320) row_bytes 72
// CHECK-NEXT:    pwrt.all_to_all "combine" backward stage 1 mb 2 layer 1 on %[[M]] (send = 4736+16, recv = 4800+16) row_bytes 64
pwrt.program @moe ranks = 1 {
  pwrt.rank 0 pool 4816 {
    %compute = pwrt.stream "compute"
    %comm = pwrt.stream "comm"
    pwrt.launch forward "attn" stage 1 mb 2 layer 0 on %compute (output = 0+2320)
    pwrt.all_to_all "dispatch" forward stage 1 mb 2 layer 0 on %comm (send = 0+2320, recv = 2368+2320) row_bytes 72
    pwrt.all_to_all "combine" backward stage 1 mb 2 layer 1 on %comm (send = 4736+16, recv = 4800+16) row_bytes 64
  }
}
