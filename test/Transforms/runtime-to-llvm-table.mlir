// RUN: pw-opt %s -runtime-to-llvm=table-threshold=0 | FileCheck %s
// RUN: pw-opt %s -runtime-to-llvm=table-threshold=0 | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=IR

// One forward launch: op 0 (launch), stream 0, kernel 0 ("fwd"), kind 0
// (forward), stage 0, mb 0, no in0 or in1, out0 = slot 0 (8+8), out1 =
// slot 1 (0+8), as pwrt_codegen.h lays records out.
// CHECK-DAG: llvm.mlir.global internal constant @step_rank0_calls(dense<[0, 0, 0, 0, 0, 0, -1, -1, 0, 1]> : tensor<10xi32>) {{.*}} : !llvm.array<10 x i32>
// CHECK-DAG: llvm.mlir.global internal constant @step_rank0_slots(dense<[8, 8, 0, 8]> : tensor<4xi64>) {{.*}} : !llvm.array<4 x i64>
// CHECK:     llvm.func internal @step_rank0(%[[CTX:.*]]: !llvm.ptr)
// CHECK:       llvm.call @pwrt_cg_rank_begin(%[[CTX]], {{.*}})
// CHECK:       %[[CALLS:.*]] = llvm.mlir.addressof @step_rank0_calls
// CHECK:       llvm.call @pwrt_cg_run(%[[CTX]], %[[CALLS]], {{.*}}) : (!llvm.ptr, !llvm.ptr, i64, !llvm.ptr, i64) -> ()
// CHECK-NOT:   pwrt_cg_launch
// CHECK:       llvm.call @pwrt_cg_rank_end(%[[CTX]])

// IR-DAG: @step_rank0_calls = internal constant [10 x i32] [i32 0, i32 0, i32 0, i32 0, i32 0, i32 0, i32 -1, i32 -1, i32 0, i32 1]
// IR-DAG: @step_rank0_slots = internal constant [4 x i64] [i64 8, i64 8, i64 0, i64 8]
// IR:     define internal void @step_rank0(ptr %0)
// IR:     call void @pwrt_cg_run(ptr %0, ptr @step_rank0_calls, i64 1, ptr @step_rank0_slots, i64 2)
pwrt.program @step ranks = 1 {
  pwrt.rank 0 pool 16 {
    %compute = pwrt.stream "compute"
    %comm = pwrt.stream "comm"
    pwrt.launch forward "fwd" stage 0 mb 0 on %compute (output = 8+8, saved = 0+8)
  }
}
