// RUN: pw-opt %s -runtime-to-llvm | FileCheck %s
// RUN: pw-opt %s -runtime-to-llvm | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=IR

// CHECK-DAG: llvm.mlir.global internal constant @{{.*}}("step\00")
// CHECK-DAG: llvm.mlir.global internal constant @{{.*}}("fwd\00")
// CHECK:     llvm.func internal @step_rank0(%[[CTX:.*]]: !llvm.ptr)
// CHECK:       llvm.call @pwrt_cg_rank_begin(%[[CTX]], {{.*}}) : (!llvm.ptr, !llvm.ptr, i32, i32, i64, i32, !llvm.ptr) -> ()
// CHECK:       llvm.call @pwrt_cg_launch(%[[CTX]], {{.*}}) : (!llvm.ptr, i32, i32, i32, i32, i32, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK:       llvm.call @pwrt_cg_rank_end(%[[CTX]])
// CHECK:     llvm.func @step_step(%{{.*}}: !llvm.ptr) -> i32
// CHECK:       llvm.call @pwrt_rank
// CHECK:       llvm.cond_br
// CHECK:       llvm.call @pwrt_cg_result

// IR: define internal void @step_rank0(ptr %0)
// IR: call void @pwrt_cg_launch(ptr %0, i32 0, i32 0, i32 0, i32 0, i32 0, i64 -1, i64 0, i64 -1, i64 0, i64 8, i64 8, i64 0, i64 8)
// IR: define i32 @step_step(ptr %0)
// IR: define i32 @step_num_ranks()
// IR-NEXT: ret i32 1
pwrt.program @step ranks = 1 {
  pwrt.rank 0 pool 16 {
    %compute = pwrt.stream "compute"
    %comm = pwrt.stream "comm"
    pwrt.launch forward "fwd" stage 0 mb 0 on %compute (output = 8+8, saved = 0+8)
  }
}
