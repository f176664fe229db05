//===- Action.cpp - Pipeline actions and their text -----------------------===//
//
// Factories for actions and their PyTorch pipelining text form.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Schedule.h"
#include "passes/Schedule/StrCat.h"

using namespace pipeweave::schedule;
using detail::strCat;

static Action computeAction(ActionKind kind, int stage, int mb) {
  Action action;
  action.kind = kind;
  action.stage = stage;
  action.microbatch = mb;
  return action;
}

static Action commAction(ActionKind kind, Payload payload, int stage, int mb,
                         int peer, int64_t bytes) {
  Action action = computeAction(kind, stage, mb);
  action.payload = payload;
  action.peer = peer;
  action.bytes = bytes;
  return action;
}

Action Action::forward(int stage, int mb) {
  return computeAction(ActionKind::Forward, stage, mb);
}

Action Action::backwardInput(int stage, int mb) {
  return computeAction(ActionKind::BackwardInput, stage, mb);
}

Action Action::backwardWeight(int stage, int mb) {
  return computeAction(ActionKind::BackwardWeight, stage, mb);
}

Action Action::backward(int stage, int mb) {
  return computeAction(ActionKind::Backward, stage, mb);
}

Action Action::overlap(int fwdStage, int fwdMb, int bwdStage, int bwdMb) {
  Action action = computeAction(ActionKind::OverlapFB, fwdStage, fwdMb);
  action.stage2 = bwdStage;
  action.microbatch2 = bwdMb;
  return action;
}

Action Action::send(Payload payload, int stage, int mb, int peer,
                    int64_t bytes) {
  return commAction(ActionKind::Send, payload, stage, mb, peer, bytes);
}

Action Action::recv(Payload payload, int stage, int mb, int peer,
                    int64_t bytes) {
  return commAction(ActionKind::Recv, payload, stage, mb, peer, bytes);
}

/// PyTorch's name for the action type between stage and micro-batch.
static const char *torchTypeName(const Action &action) {
  bool activation = action.payload == Payload::Activation;
  switch (action.kind) {
  case ActionKind::Forward:
    return "F";
  case ActionKind::BackwardInput:
    return "I";
  case ActionKind::BackwardWeight:
    return "W";
  case ActionKind::Backward:
    return "B";
  case ActionKind::Send:
    return activation ? "SEND_F" : "SEND_B";
  case ActionKind::Recv:
    return activation ? "RECV_F" : "RECV_B";
  case ActionKind::OverlapFB:
    break;
  }
  return "?";
}

std::string Action::str() const {
  if (kind == ActionKind::OverlapFB)
    return strCat("(", stage, "F", microbatch, ";", stage2, "B", microbatch2,
                  ")OVERLAP_F_B");
  return strCat(stage, torchTypeName(*this), microbatch);
}
