// RUN: pw-opt %s -runtime-to-emitc=table-threshold=0 | FileCheck %s
// RUN: pw-opt %s -runtime-to-emitc=table-threshold=0 | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=CPP
// Above the threshold (here: any call) each rank's calls are a table; at or
// below it they stay flat calls.
// RUN: pw-opt %s -runtime-to-emitc=table-threshold=8 | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=FLAT
// RUN: pw-opt %s -runtime-to-emitc=table-threshold=7 | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=CPP

// CHECK: emitc.global static const @step_rank0_calls : !emitc.array<80xi32> = #emitc.opaque<
// CHECK: emitc.global static const @step_rank0_slots : !emitc.array<6xi64> = #emitc.opaque<
// CHECK: emitc.func @step_rank0
// CHECK:   emitc.get_global @step_rank0_calls
// CHECK:   emitc.get_global @step_rank0_slots
// CHECK:   emitc.call_opaque "pwrt_cg_run"

// The records, worked out from pwrt_codegen.h's layout: op code, stream,
// then launch: kernel (index in "bwd,fwd"), kind, stage, mb, slots of in0,
// in1, out0, out1; record/wait: event; send/recv: peer, tag, payload,
// stage, mb, slot. Slots are numbered in order of first use:
// 0 = 1000+100, 1 = 0+1000, 2 = 1100+100.
// CPP:      // Rank 0: 8 runtime calls as records of PWRT_CG_RECORD_WIDTH fields (pwrt_codegen.h).
// CPP-NEXT: static const int32_t step_rank0_calls[80] = {
// CPP-NEXT:   0, 0, 1, 0, 0, 0, -1, -1, 0, 1, // forward stage 0 mb 0: fwd
// CPP-NEXT:   1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
// CPP-NEXT:   2, 1, 0, 0, 0, 0, 0, 0, 0, 0,
// CPP-NEXT:   3, 1, 0, 0, 0, 0, 0, 0, 0, 0,
// CPP-NEXT:   4, 1, 1, 0, 0, 0, 0, 0, 0, 0,
// CPP-NEXT:   5, 1, 1, 3, 1, 0, 0, 2, 0, 0,
// CPP-NEXT:   6, 1, 0, 0, 0, 0, 0, 0, 0, 0,
// CPP-NEXT:   0, 0, 0, 3, 0, 0, 2, 1, -1, -1, // backward stage 0 mb 0: bwd
// CPP-NEXT: };
// CPP-NEXT: static const int64_t step_rank0_slots[6] = {
// CPP-NEXT:   1000, 100,
// CPP-NEXT:   0, 1000,
// CPP-NEXT:   1100, 100,
// CPP-NEXT: };
// CPP-NEXT: static void step_rank0(pwrt_context* [[CTX:v[0-9]+]]) {
// CPP-NEXT:   pwrt_cg_rank_begin([[CTX]], "step", 2, 0, 3000, 1, "bwd,fwd");
// CPP-NEXT:   pwrt_cg_run([[CTX]], step_rank0_calls, 8, step_rank0_slots, 3);
// CPP-NEXT:   pwrt_cg_rank_end([[CTX]]);
// A rank without calls has no table.
// CPP:      static void step_rank1(pwrt_context* [[CTX1:v[0-9]+]]) {
// CPP-NEXT:   pwrt_cg_rank_begin([[CTX1]], "step", 2, 1, 0, 0, "bwd,fwd");
// CPP-NEXT:   pwrt_cg_rank_end([[CTX1]]);
// CPP:      extern "C" pwrt_status step_step(

// FLAT-NOT: pwrt_cg_run
// FLAT:     pwrt_cg_launch(
pwrt.program @step ranks = 2 {
  pwrt.rank 0 pool 3000 {
    %compute = pwrt.stream "compute"
    %comm = pwrt.stream "comm"
    pwrt.launch forward "fwd" stage 0 mb 0 on %compute (output = 1000+100, saved = 0+1000)
    %produced = pwrt.record %compute
    pwrt.wait %comm for %produced
    pwrt.p2p_group on %comm {
      pwrt.send activation stage 0 mb 0 to 1 tag 0 slot 1000+100
      pwrt.recv gradient stage 0 mb 0 from 1 tag 3 slot 1100+100
    }
    pwrt.launch backward "bwd" stage 0 mb 0 on %compute (grad_output = 1100+100, saved = 0+1000)
  }
  pwrt.rank 1 pool 0 {
  }
}
