//===- Passes.td - pipeweave passes ------------------------*- tablegen -*-===//

#ifndef PIPEWEAVE_PASSES
#define PIPEWEAVE_PASSES

include "mlir/Pass/PassBase.td"

def PipeBuildSchedule : Pass<"pipe-build-schedule", "mlir::ModuleOp"> {
  let summary = "Replace every pipe.pipeline with the sched.program its "
                "schedule kind builds";
  let description = [{
    Runs the schedule library's generator for the pipeline's `schedule`
    (gpipe and 1f1b today) and records each stage's activation and gradient
    message sizes on the program for `--sched-insert-comm`. The program
    keeps the pipeline's symbol name. Fails with a located error for a kind
    that has no generator yet.
  }];
  let dependentDialects = ["::pipeweave::sched::SchedDialect"];
}

def SchedInsertComm : Pass<"sched-insert-comm", "::pipeweave::sched::ProgramOp"> {
  let summary = "Add matching send/recv pairs for every cross-rank dependency";
  let description = [{
    Activations flow F(s) -> F(s+1), gradients B/I(s) -> B/I(s-1) within a
    direction; stages on the same rank (the V turn) exchange nothing. Before
    each compute action sits one group: the sends that are due, then the
    receives the action needs. A send is due in the round its consumer runs
    in a lock-step run of the compute order, so both ends of every message
    sit at the same round boundary and blocking grouped point-to-point
    semantics (a group completes when its peers have posted the matching
    operations) cannot deadlock. For GPipe and 1F1B that is right after the
    producer; DualPipe's neighbours feed each other, so some of its sends
    wait. Existing send/recv actions are replaced.
  }];
}

def SchedCheckDeadlock
    : Pass<"sched-check-deadlock", "::pipeweave::sched::ProgramOp"> {
  let summary = "Execute the program abstractly and fail if it can deadlock";
  let description = [{
    Without send/recv actions a compute action waits for the actions that
    produce its inputs (on any rank); with them, each group of consecutive
    send/recv actions completes once every peer has posted the matching
    operation. If no rank can move before all are done, the pass fails with
    an error naming every stuck rank and the action it waits at.
  }];
}

def SchedSimulate
    : Pass<"sched-simulate", "::pipeweave::sched::ProgramOp"> {
  let summary = "Simulate the program under its cost model and record the "
                "result on it";
  let description = [{
    Runs the simulator (each rank runs its actions in order; an input from
    another rank arrives latency + bytes / bandwidth after its producer
    ends) and attaches `sched.simulation = {makespan, busy, bubble,
    peak_activations, peak_activation_bytes, critical_path_crossings}`
    (per-rank arrays) to the program. `pwc --emit=report` prints the full
    report. Fails with a located error when the program has no cost model
    or cannot run to the end.
  }];
}

def SchedOverlapFB : Pass<"sched-overlap-fb", "::pipeweave::sched::ProgramOp"> {
  let summary = "Plan the components of every overlapped F&B pair on a "
                "compute and a communication stream";
  let description = [{
    For every `sched.overlap` whose forward or backward stage has
    components (`pipe.layers`), cuts the forward chunk and the backward
    chunk into their component chains and chooses the order of the items on
    the compute stream and on the communication stream that finishes the
    pair first (an exact search; see passes/Overlap/Overlap.h), so that the
    all-to-alls of one chunk run under the computation of the other. The
    order is recorded in the op's body as `sched.component` items in start
    order; `--sched-simulate` and `pwc --emit=report` charge its makespan
    and report its communication hidden. Pairs of stages without components
    are left alone (they cost `overlapped`); a program without components
    is unchanged.
  }];
  let options = [
    Option<"maxLabels", "max-labels", "int64_t", /*default=*/"2000000",
           "Labels the exact search may create per distinct pair before it "
           "keeps the best heuristic order (not proven optimal)">,
  ];
}

def SchedToRuntime : Pass<"sched-to-runtime", "mlir::ModuleOp"> {
  let summary = "Lower every sched.program (with send/recv and a cost model) "
                "to a pwrt.program";
  let description = [{
    Per rank: a static buffer plan places every activation, saved
    activation and gradient in one pool by liveness; compute actions become
    kernel launches on the `compute` stream (named by the cost model's
    kernels; a full backward without a `backward` kernel becomes
    backward_input then backward_weight; a last stage's `loss` kernel runs
    after each forward); each group of sends and receives becomes one
    `pwrt.p2p_group` on the `comm` stream; and events order the two
    streams exactly where one reads what the other wrote or reuses a slot
    the other used last, with no wait that an earlier one already covers.
  }];
  let dependentDialects = ["::pipeweave::pwrt::PwrtDialect"];
}

def RuntimeToEmitC : Pass<"runtime-to-emitc", "mlir::ModuleOp"> {
  let summary = "Lower every pwrt.program to EmitC functions calling the "
                "runtime's code-generation API (pwrt/pwrt_codegen.h)";
  let description = [{
    For a program @NAME of R ranks: `NAME_rank<r>(ctx)` issues rank r's step
    as a flat sequence of `pwrt_cg_*` calls (a comment names each compute
    action), `NAME_step(ctx)` runs the function of the calling process's
    rank and returns the step's `pwrt_status`, and `NAME_num_ranks()`
    returns R. `mlir-translate --mlir-to-cpp` (or `pwc --emit=cpp`) prints
    the C++.

    When the program makes more than `table-threshold` calls (all ranks
    together), every rank's calls become a constant table instead
    (`static const int32_t NAME_rank<r>_calls[]`, one record of
    PWRT_CG_RECORD_WIDTH fields per call, and `NAME_rank<r>_slots[]`, its
    pool slots) that one `pwrt_cg_run` call issues with the same runtime
    behaviour: the flat form of a large schedule is hundreds of thousands of
    lines that compilers take long to build and to compile.
  }];
  let options = [
    Option<"tableThreshold", "table-threshold", "int64_t", /*default=*/"8192",
           "Use the table form when the program makes more than this many "
           "runtime calls in all (0: always, -1: never)">
  ];
  let dependentDialects = ["::mlir::emitc::EmitCDialect"];
}

def RuntimeToLLVM : Pass<"runtime-to-llvm", "mlir::ModuleOp"> {
  let summary = "Lower every pwrt.program to LLVM dialect functions calling "
                "the runtime's code-generation API";
  let description = [{
    The same functions as --runtime-to-emitc, as LLVM dialect, ready for
    translation to LLVM IR and an object file; above `table-threshold`
    calls in all, each rank's calls are a constant global array
    (`NAME_rank<r>_calls`, `NAME_rank<r>_slots`) issued by `pwrt_cg_run`
    (LLVM takes about 40 us per flat call to make machine code of).
  }];
  let options = [
    Option<"tableThreshold", "table-threshold", "int64_t", /*default=*/"8192",
           "Use the table form when the program makes more than this many "
           "runtime calls in all (0: always, -1: never)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // PIPEWEAVE_PASSES
