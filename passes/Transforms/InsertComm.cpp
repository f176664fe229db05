//===- InsertComm.cpp - add send/recv pairs to a sched.program ------------===//

#include "passes/Transforms/Passes.h"

namespace pipeweave {
#define GEN_PASS_DEF_SCHEDINSERTCOMM
#include "passes/Transforms/Passes.h.inc"
} // namespace pipeweave

using namespace mlir;
using namespace pipeweave;

namespace {
struct SchedInsertCommPass
    : pipeweave::impl::SchedInsertCommBase<SchedInsertCommPass> {
  void runOnOperation() override {
    FailureOr<sched::ProgramValue> value =
        sched::toProgramValue(getOperation());
    if (failed(value))
      return signalPassFailure();
    sched::replaceActions(getOperation(),
                          schedule::insertCommunication(value->schedule));
  }
};
} // namespace
