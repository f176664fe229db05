// RUN: pw-opt %s -runtime-to-emitc | FileCheck %s
// RUN: pw-opt %s -runtime-to-emitc | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=CPP

// CHECK: emitc.include "pwrt/pwrt_codegen.h"
// CHECK: emitc.func @step_rank0(%[[CTX:.*]]: !emitc.ptr<!emitc.opaque<"pwrt_context">>) attributes {specifiers = ["static"]}
// CHECK: emitc.call_opaque "pwrt_cg_rank_begin"(%[[CTX]]) {args = [0 : index, #emitc.opaque<"\22step\22">, 2 : i32, 0 : i32, 3000, 1 : i32, #emitc.opaque<"\22bwd,fwd\22">]}
// CHECK: emitc.func @step_step({{.*}}) -> !emitc.opaque<"pwrt_status"> attributes {specifiers = ["extern \22C\22"]}
// CHECK: emitc.func @step_num_ranks() -> i32

// The C++ a user compiles: each rank's step is a flat list of runtime calls;
// launch arguments are (stream, kernel index in "bwd,fwd", kind, stage, mb,
// in0, in1, out0, out1 as offset and bytes; -1 for none).
// CPP:      #include "pwrt/pwrt_codegen.h"
// CPP:      static void step_rank0(pwrt_context* [[CTX:v[0-9]+]]) {
// CPP-NEXT:   pwrt_cg_rank_begin([[CTX]], "step", 2, 0, 3000, 1, "bwd,fwd");
// CPP-NEXT:   // forward stage 0 mb 0: fwd
// CPP-NEXT:   pwrt_cg_launch([[CTX]], 0, 1, 0, 0, 0, -1, 0, -1, 0, 1000, 100, 0, 1000);
// CPP-NEXT:   pwrt_cg_record([[CTX]], 0, 0);
// CPP-NEXT:   pwrt_cg_wait([[CTX]], 1, 0);
// CPP-NEXT:   pwrt_cg_group_begin([[CTX]], 1);
// CPP-NEXT:   pwrt_cg_send([[CTX]], 1, 1, 0, 0, 0, 0, 1000, 100);
// CPP-NEXT:   pwrt_cg_recv([[CTX]], 1, 1, 3, 1, 0, 0, 1100, 100);
// CPP-NEXT:   pwrt_cg_group_end([[CTX]], 1);
// CPP-NEXT:   // backward stage 0 mb 0: bwd
// CPP-NEXT:   pwrt_cg_launch([[CTX]], 0, 0, 3, 0, 0, 1100, 100, 0, 1000, -1, 0, -1, 0);
// CPP-NEXT:   pwrt_cg_rank_end([[CTX]]);
// CPP:      extern "C" pwrt_status step_step(pwrt_context* [[S:v[0-9]+]]) {
// CPP:        int32_t [[RANK:v[0-9]+]] = pwrt_rank([[S]]);
// CPP:        bool [[IS0:v[0-9]+]] = [[RANK]] == {{v[0-9]+}};
// CPP-NEXT:   if ([[IS0]]) {
// CPP-NEXT:     step_rank0([[S]]);
// CPP:        if ({{v[0-9]+}}) {
// CPP-NEXT:     step_rank1([[S]]);
// CPP:        pwrt_status {{v[0-9]+}} = pwrt_cg_result([[S]], "step", 2);
// CPP:      extern "C" int32_t step_num_ranks() {
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
