//===- CheckDeadlock.cpp - reject programs that can deadlock --------------===//

#include "passes/Transforms/Passes.h"

namespace pipeweave {
#define GEN_PASS_DEF_SCHEDCHECKDEADLOCK
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct SchedCheckDeadlockPass
    : pipeweave::impl::SchedCheckDeadlockBase<SchedCheckDeadlockPass> {
  void runOnOperation() override {
    sched::ProgramOp program = getOperation();
    FailureOr<sched::ProgramValue> value = sched::toProgramValue(program);
    if (failed(value))
      return signalPassFailure();
    schedule::DeadlockReport report = schedule::checkDeadlock(value->schedule);
    if (!report.deadlocked)
      return markAllAnalysesPreserved();

    InFlightDiagnostic diag = program.emitError()
                              << "@" << program.getSymName()
                              << " deadlocks: " << report.stuck.size() << " of "
                              << program.getRanks() << " ranks cannot proceed";
    for (const schedule::StuckRank &stuck : report.stuck) {
      Location at = value->opAt(stuck.rank, stuck.index)->getLoc();
      std::string action =
          stuck.index >= 0 &&
                  stuck.index <
                      static_cast<int>(value->schedule.ranks[stuck.rank].size())
              ? value->schedule.ranks[stuck.rank][stuck.index].str()
              : std::string("end");
      diag.attachNote(at) << "rank " << stuck.rank << " waits at action "
                          << stuck.index << " (" << action
                          << "): " << stuck.waitsOn;
    }
    signalPassFailure();
  }
};
} // namespace
