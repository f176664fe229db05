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

#endif // PIPEWEAVE_PASSES
