// RUN: pw-opt %s -runtime-to-emitc | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=FLAT
// RUN: pw-opt %s -runtime-to-emitc=table-threshold=0 | mlir-translate --mlir-to-cpp | FileCheck %s --check-prefix=TABLE
// RUN: pw-opt %s -runtime-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: pw-opt %s -runtime-to-llvm=table-threshold=0 | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=IR

// Issue 8: a component launch carries its layer, an all-to-all its
// component (index in the sorted names "combine,dispatch": dispatch = 1),
// kind code (forward 0, backward 3), stage, mb, layer, row bytes and send
// and receive slots; an expert-parallel program names E and its
// all-to-alls before each rank begins, and picks its rank function by
// pwrt_rank / E.

// FLAT:      static void moe_rank0(pwrt_context* [[CTX:v[0-9]+]]) {
// FLAT-NEXT:   pwrt_cg_expert_parallel([[CTX]], 2, "combine,dispatch");
// FLAT-NEXT:   pwrt_cg_rank_begin([[CTX]], "moe", 2, 0, 256, 0, "attn");
// FLAT-NEXT:   // forward stage 0 mb 1 layer 1: attn
// FLAT-NEXT:   pwrt_cg_launch_layer([[CTX]], 0, 0, 0, 0, 1, 1, 0, 16, 32, 48);
// FLAT-NEXT:   // forward stage 0 mb 1 layer 1: all-to-all dispatch
// FLAT-NEXT:   pwrt_cg_all_to_all([[CTX]], 1, 1, 0, 0, 1, 1, 8, 32, 48, 96, 48);
// FLAT-NEXT:   // backward stage 0 mb 1 layer 0: all-to-all combine
// FLAT-NEXT:   pwrt_cg_all_to_all([[CTX]], 1, 0, 3, 0, 1, 0, 4, 160, 24, 192, 24);
// FLAT-NEXT:   pwrt_cg_rank_end([[CTX]]);
// FLAT:      static void moe_rank1(pwrt_context* [[CTX1:v[0-9]+]]) {
// FLAT-NEXT:   pwrt_cg_expert_parallel([[CTX1]], 2, "combine,dispatch");
// FLAT:      pwrt_cg_pipeline_rank({{v[0-9]+}}, 2)

// Records: op code (7 launch_layer, 8 all_to_all), stream, fields, slots
// by index in the slot table (first use first).
// TABLE:      static const int32_t moe_rank0_calls[30] = {
// TABLE-NEXT:   7, 0, 0, 0, 0, 1, 1, 0, 1, -1, // forward stage 0 mb 1 layer 1: attn
// TABLE-NEXT:   8, 1, 1, 0, 0, 1, 1, 8, 1, 2,
// TABLE-NEXT:   8, 1, 0, 3, 0, 1, 0, 4, 3, 4,
// TABLE-NEXT: };
// TABLE-NEXT: static const int64_t moe_rank0_slots[10] = {
// TABLE-NEXT:   0, 16,
// TABLE-NEXT:   32, 48,
// TABLE-NEXT:   96, 48,
// TABLE-NEXT:   160, 24,
// TABLE-NEXT:   192, 24,
// TABLE-NEXT: };

// LLVM: llvm.call @pwrt_cg_expert_parallel(%{{.*}}, %{{.*}}, %{{.*}}) : (!llvm.ptr, i32, !llvm.ptr) -> ()
// LLVM: llvm.call @pwrt_cg_launch_layer({{.*}}) : (!llvm.ptr, i32, i32, i32, i32, i32, i32, i64, i64, i64, i64) -> ()
// LLVM: llvm.call @pwrt_cg_all_to_all({{.*}}) : (!llvm.ptr, i32, i32, i32, i32, i32, i32, i64, i64, i64, i64, i64) -> ()
// LLVM: llvm.call @pwrt_cg_pipeline_rank(%{{.*}}, %{{.*}}) : (!llvm.ptr, i32) -> i32

// IR: @moe_rank0_calls = internal constant [30 x i32] [i32 7, i32 0, i32 0, i32 0, i32 0, i32 1, i32 1, i32 0, i32 1, i32 -1, i32 8, i32 1, i32 1, i32 0, i32 0, i32 1, i32 1, i32 8, i32 1, i32 2, i32 8, i32 1, i32 0, i32 3, i32 0, i32 1, i32 0, i32 4, i32 3, i32 4]
pwrt.program @moe ranks = 2 expert_parallel = 2 {
  pwrt.rank 0 pool 256 {
    %c = pwrt.stream "compute"
    %m = pwrt.stream "comm"
    pwrt.launch forward "attn" stage 0 mb 1 layer 1 on %c (input = 0+16, output = 32+48)
    pwrt.all_to_all "dispatch" forward stage 0 mb 1 layer 1 on %m (send = 32+48, recv = 96+48) row_bytes 8
    pwrt.all_to_all "combine" backward stage 0 mb 1 layer 0 on %m (send = 160+24, recv = 192+24) row_bytes 4
  }
  pwrt.rank 1 pool 0 {
  }
}
