//===- Program.cpp - one rank's runtime calls for a component schedule ----===//

#include "Program.h"

#include "Kernels.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

using namespace moe;
namespace schedule = pipeweave::schedule;
using schedule::Action;
using schedule::ActionKind;
using schedule::Payload;

namespace {
struct Access {
  int slot;
  bool write;
};

std::vector<Access> accessesOf(const RankProgram::Op &op) {
  std::vector<Access> result;
  switch (op.kind) {
  case RankProgram::OpKind::Launch:
    for (int slot : op.inputs)
      result.push_back({slot, false});
    for (int slot : op.outputs)
      result.push_back({slot, true});
    break;
  case RankProgram::OpKind::AllToAll:
    result.push_back({op.send, false});
    result.push_back({op.recv, true});
    break;
  case RankProgram::OpKind::Transfers:
    for (const RankProgram::Transfer &t : op.transfers)
      result.push_back({t.slot, !t.isSend});
    break;
  }
  return result;
}
} // namespace

std::vector<ComponentSpec> moe::moeLayer(const Shape &s) {
  // Worst case of a receive: every (token, k) row of the group comes here.
  size_t rows = size_t(s.parallel) * size_t(s.tokens) * size_t(s.topk);
  auto compute = [](const char *name, Component forward,
                    Component backwardInput,
                    std::optional<Component> backwardWeight) {
    ComponentSpec c;
    c.name = name;
    c.forward = kernelName(forward);
    c.backwardInput = kernelName(backwardInput);
    if (backwardWeight)
      c.backwardWeight = kernelName(*backwardWeight);
    return c;
  };
  auto allToAll = [&](const char *name, size_t rowBytes) {
    ComponentSpec c;
    c.name = name;
    c.allToAll = true;
    c.rowBytes = rowBytes;
    c.rows = rows;
    return c;
  };
  return {compute("attn", Component::AttnForward, Component::AttnBackwardInput,
                  Component::AttnBackwardWeight),
          allToAll("dispatch", dispatchRowBytes(s)),
          compute("mlp", Component::MlpForward, Component::MlpBackwardInput,
                  Component::MlpBackwardWeight),
          allToAll("combine", valueRowBytes(s)),
          compute("unpack", Component::UnpackForward,
                  Component::UnpackBackwardInput, std::nullopt)};
}

//===----------------------------------------------------------------------===//
// Lowering
//===----------------------------------------------------------------------===//

std::optional<std::string>
RankProgram::build(const schedule::Schedule &plan,
                   const std::vector<ComponentSpec> &layer, const Shape &s,
                   int pipelineRank_, int parallelIndex_) {
  shape = s;
  pipelineRank = pipelineRank_;
  parallelIndex = parallelIndex_;
  program.clear();
  pool.clear();
  if (layer.empty() || layer.front().allToAll || layer.back().allToAll)
    return std::string("a layer must start and end with a compute component");
  for (size_t c = 1; c < layer.size(); ++c)
    if (layer[c].allToAll && layer[c - 1].allToAll)
      return "all-to-alls '" + layer[c - 1].name + "' and '" + layer[c].name +
             "' follow each other; a compute component must separate them";

  std::set<int> localStages;
  for (const Action &action : plan.ranks[size_t(pipelineRank)])
    if (action.isCompute()) {
      localStages.insert(action.stage);
      if (action.kind == ActionKind::OverlapFB)
        localStages.insert(action.stage2);
    }

  // Slots, created on first use.
  enum SlotKind {
    kActivation,         // a stage's output (F chain output)
    kReceivedActivation, // a stage's input from the previous rank
    kOutputGradient,     // a stage's output gradient (B chain input)
    kInputGradient,      // a stage's input gradient for the previous rank
    kSendSlot,           // an all-to-all's send slot of one action's chain
    kReceiveSlot,
  };
  std::map<std::tuple<int, int, int, int, int>, int> slotIds;
  auto slot = [&](SlotKind kind, int stage, int mb, bool forwardChain = true,
                  int component = -1) {
    auto key = std::tuple{int(kind), stage, mb, int(forwardChain), component};
    auto [found, inserted] = slotIds.try_emplace(key, int(pool.size()));
    if (!inserted)
      return found->second;
    Slot created;
    std::string where = " of stage " + std::to_string(stage) +
                        ", micro-batch " + std::to_string(mb);
    if (kind == kSendSlot || kind == kReceiveSlot) {
      const ComponentSpec &c = layer[size_t(component)];
      size_t rows =
          kind == kReceiveSlot && c.receiveRows ? c.receiveRows : c.rows;
      created.bytes = allToAllBytes(s, rows, c.rowBytes);
      created.what = c.name + (forwardChain ? " (forward) " : " (backward) ") +
                     (kind == kSendSlot ? "send" : "receive") + where;
    } else {
      static const char *const names[] = {"activation", "received activation",
                                          "output gradient", "input gradient"};
      created.bytes = s.activationBytes();
      created.what = names[kind] + where;
    }
    pool.push_back(created);
    return found->second;
  };

  // One chain item: a component of a layer in a phase.
  enum class Phase { Forward, BackwardInput, BackwardWeight, Backward };
  struct Item {
    int component, layer;
    Phase phase;
  };
  int L = s.layersPerStage;
  auto forwardChain = [&] {
    std::vector<Item> chain;
    for (int l = 0; l < L; ++l)
      for (int c = 0; c < int(layer.size()); ++c)
        chain.push_back({c, l, Phase::Forward});
    return chain;
  };
  // The B chain; with `weights`, each W right after its I (W items are off
  // the chain: they neither pass nor take buffers).
  auto backwardChain = [&](bool weights) {
    std::vector<Item> chain;
    for (int l = L - 1; l >= 0; --l)
      for (int c = int(layer.size()) - 1; c >= 0; --c) {
        if (layer[size_t(c)].allToAll) {
          chain.push_back({c, l, Phase::Backward});
          continue;
        }
        chain.push_back({c, l, Phase::BackwardInput});
        if (weights && !layer[size_t(c)].backwardWeight.empty())
          chain.push_back({c, l, Phase::BackwardWeight});
      }
    return chain;
  };

  // The ops of one chain of (stage, mb): `input`/`output` are the chain's
  // input and output slots (-1: none).
  auto lowerChain = [&](const std::vector<Item> &chain, bool isForward,
                        int stage, int mb, int input, int output) {
    std::vector<Op> ops;
    // Neighbours along the chain, W items skipped.
    std::vector<int> onChain;
    for (int i = 0; i < int(chain.size()); ++i)
      if (chain[size_t(i)].phase != Phase::BackwardWeight)
        onChain.push_back(i);
    auto neighbour = [&](int i, int step) -> const Item * {
      auto at = std::find(onChain.begin(), onChain.end(), i);
      int position = int(at - onChain.begin()) + step;
      if (at == onChain.end() || position < 0 ||
          position >= int(onChain.size()))
        return nullptr;
      return &chain[size_t(onChain[size_t(position)])];
    };
    for (int i = 0; i < int(chain.size()); ++i) {
      const Item &item = chain[size_t(i)];
      const ComponentSpec &c = layer[size_t(item.component)];
      Op op;
      op.stage = stage;
      op.microbatch = mb;
      op.layer = item.layer;
      if (c.allToAll) {
        op.kind = OpKind::AllToAll;
        op.stream = kComm;
        op.action = isForward ? PWRT_ACTION_FORWARD : PWRT_ACTION_BACKWARD;
        op.name = c.name;
        op.rowBytes = c.rowBytes;
        op.send = slot(kSendSlot, stage, mb, isForward, item.component);
        op.recv = slot(kReceiveSlot, stage, mb, isForward, item.component);
        ops.push_back(op);
        continue;
      }
      op.kind = OpKind::Launch;
      op.stream = kCompute;
      switch (item.phase) {
      case Phase::Forward:
        op.action = PWRT_ACTION_FORWARD;
        op.kernel = c.forward;
        break;
      case Phase::BackwardInput:
        op.action = PWRT_ACTION_BACKWARD_INPUT;
        op.kernel = c.backwardInput;
        break;
      default:
        op.action = PWRT_ACTION_BACKWARD_WEIGHT;
        op.kernel = c.backwardWeight;
        ops.push_back(op); // no buffers
        continue;
      }
      const Item *before = neighbour(i, -1), *after = neighbour(i, +1);
      if (before && layer[size_t(before->component)].allToAll)
        op.inputs.push_back(
            slot(kReceiveSlot, stage, mb, isForward, before->component));
      else if (!before && input >= 0)
        op.inputs.push_back(input);
      if (after && layer[size_t(after->component)].allToAll)
        op.outputs.push_back(
            slot(kSendSlot, stage, mb, isForward, after->component));
      else if (!after && output >= 0)
        op.outputs.push_back(output);
      ops.push_back(op);
    }
    return ops;
  };

  auto forward = [&](int stage, int mb) {
    int prev = plan.prevStage(stage);
    int input = prev < 0 ? -1
                : localStages.count(prev)
                    ? slot(kActivation, prev, mb)
                    : slot(kReceivedActivation, stage, mb);
    int output = slot(kActivation, stage, mb);
    std::vector<Op> ops =
        lowerChain(forwardChain(), true, stage, mb, input, output);
    if (plan.nextStage(stage) < 0) {
      Op loss;
      loss.kind = OpKind::Launch;
      loss.stream = kCompute;
      loss.action = PWRT_ACTION_OTHER;
      loss.stage = stage;
      loss.microbatch = mb;
      loss.kernel = kLossKernel;
      loss.inputs = {output};
      loss.outputs = {slot(kOutputGradient, stage, mb)};
      ops.push_back(loss);
    }
    return ops;
  };
  auto backward = [&](int stage, int mb, bool weights) {
    int prev = plan.prevStage(stage);
    int output = prev < 0                  ? -1
                 : localStages.count(prev) ? slot(kOutputGradient, prev, mb)
                                           : slot(kInputGradient, stage, mb);
    return lowerChain(backwardChain(weights), false, stage, mb,
                      slot(kOutputGradient, stage, mb), output);
  };
  auto weightsOnly = [&](int stage, int mb) {
    std::vector<Item> items;
    for (const Item &item : backwardChain(true))
      if (item.phase == Phase::BackwardWeight)
        items.push_back(item);
    return lowerChain(items, false, stage, mb, -1, -1);
  };
  auto append = [&](std::vector<Op> ops) {
    program.insert(program.end(), ops.begin(), ops.end());
  };

  const std::vector<Action> &actions = plan.ranks[size_t(pipelineRank)];
  int previousComm = -2;
  for (int i = 0; i < int(actions.size()); ++i) {
    const Action &action = actions[size_t(i)];
    switch (action.kind) {
    case ActionKind::Forward:
      append(forward(action.stage, action.microbatch));
      break;
    case ActionKind::Backward:
    case ActionKind::BackwardInput:
      append(backward(action.stage, action.microbatch,
                      action.kind == ActionKind::Backward));
      break;
    case ActionKind::BackwardWeight:
      append(weightsOnly(action.stage, action.microbatch));
      break;
    case ActionKind::OverlapFB: {
      std::vector<Op> f = forward(action.stage, action.microbatch);
      std::vector<Op> b = backward(action.stage2, action.microbatch2, true);
      for (size_t n = 0; n < std::max(f.size(), b.size()); ++n) {
        if (n < f.size())
          program.push_back(f[n]);
        if (n < b.size())
          program.push_back(b[n]);
      }
      break;
    }
    case ActionKind::Send:
    case ActionKind::Recv: {
      bool isSend = action.kind == ActionKind::Send;
      bool activation = action.payload == Payload::Activation;
      // Consecutive sends and receives form one group.
      if (previousComm != i - 1) {
        Op group;
        group.kind = OpKind::Transfers;
        group.stream = kComm;
        program.push_back(group);
      }
      previousComm = i;
      Transfer t;
      t.isSend = isSend;
      t.slot =
          slot(isSend ? (activation ? kActivation : kInputGradient)
                      : (activation ? kReceivedActivation : kOutputGradient),
               action.stage, action.microbatch);
      t.peer = action.peer * s.parallel + parallelIndex;
      // The tag names the message by its producer, as the compiler's.
      int producer = isSend       ? action.stage
                     : activation ? plan.prevStage(action.stage)
                                  : plan.nextStage(action.stage);
      t.tag = 2 * (producer * plan.microbatchesPerStage() + action.microbatch) +
              (activation ? 0 : 1);
      t.payload = activation ? PWRT_PAYLOAD_ACTIVATION : PWRT_PAYLOAD_GRADIENT;
      t.stage = action.stage;
      t.microbatch = action.microbatch;
      program.back().transfers.push_back(t);
      break;
    }
    }
  }
  for (const Op &op : program)
    if (op.kind == OpKind::Launch && op.kernel.empty())
      return "component kernel missing for stage " + std::to_string(op.stage) +
             ", layer " + std::to_string(op.layer);
  addEvents();

  // The static buffer plan: every slot its own bytes, 64-byte aligned.
  size_t total = 0;
  for (Slot &slot : pool) {
    slot.offset = (total + 63) / 64 * 64;
    total = slot.offset + slot.bytes;
  }
  return std::nullopt;
}

/// A stream waits for the other before an op only where the op reads a slot
/// the other stream wrote, or writes a slot the other stream read or wrote
/// (its latest such op), and only if it has not already waited for that op
/// or a later one of that stream. Each waited-for op records an event.
void RankProgram::addEvents() {
  constexpr int kNone = -1;
  std::vector<int> lastWriter(pool.size(), kNone);
  std::vector<std::array<int, 2>> lastUse(pool.size(), {kNone, kNone});
  std::array<std::array<int, 2>, 2> waitedUpTo = {
      {{kNone, kNone}, {kNone, kNone}}};
  std::vector<int> eventOf(program.size(), kNone);
  numEvents = 0;
  for (int index = 0; index < int(program.size()); ++index) {
    Op &op = program[size_t(index)];
    int other = 1 - op.stream;
    int needed = kNone;
    for (const Access &access : accessesOf(op)) {
      int writer = lastWriter[size_t(access.slot)];
      if (writer != kNone && program[size_t(writer)].stream == other)
        needed = std::max(needed, writer);
      if (access.write)
        needed = std::max(needed, lastUse[size_t(access.slot)][size_t(other)]);
    }
    if (needed != kNone &&
        needed > waitedUpTo[size_t(op.stream)][size_t(other)]) {
      waitedUpTo[size_t(op.stream)][size_t(other)] = needed;
      if (eventOf[size_t(needed)] == kNone)
        eventOf[size_t(needed)] = numEvents++;
      program[size_t(needed)].record = eventOf[size_t(needed)];
      op.waits.push_back(eventOf[size_t(needed)]);
    }
    for (const Access &access : accessesOf(op)) {
      if (access.write)
        lastWriter[size_t(access.slot)] = index;
      lastUse[size_t(access.slot)][size_t(op.stream)] = index;
    }
  }
}

std::optional<std::string>
RankProgram::checkOrdering(const std::vector<Op> &ops,
                           const std::vector<Slot> &slots) {
  size_t numSlots = slots.size();
  // Vector clocks: known[i][s] = how many ops of stream s have completed
  // whenever op i starts (stream order, then the waits' recorded ops).
  std::vector<std::array<int, 2>> known(ops.size());
  std::vector<int> position(ops.size());
  std::array<int, 2> count = {0, 0};
  std::array<std::array<int, 2>, 2> streamKnows = {{{0, 0}, {0, 0}}};
  std::map<int, std::array<int, 2>> eventKnows; // recorded: what it covers
  for (size_t i = 0; i < ops.size(); ++i) {
    int s = ops[i].stream;
    std::array<int, 2> &mine = streamKnows[size_t(s)];
    for (int event : ops[i].waits) {
      auto found = eventKnows.find(event);
      if (found == eventKnows.end())
        return "op " + std::to_string(i) + " waits for event " +
               std::to_string(event) + " before its record";
      for (int t = 0; t < 2; ++t)
        mine[size_t(t)] = std::max(mine[size_t(t)], found->second[size_t(t)]);
    }
    known[i] = mine;
    position[i] = count[size_t(s)]++;
    mine[size_t(s)] = count[size_t(s)]; // this op, once complete
    if (ops[i].record >= 0)
      eventKnows[ops[i].record] = mine;
  }
  auto ordered = [&](size_t a, size_t b) {
    return known[b][size_t(ops[a].stream)] > position[a];
  };
  std::vector<std::vector<std::pair<size_t, bool>>> uses(numSlots);
  for (size_t i = 0; i < ops.size(); ++i)
    for (const Access &access : accessesOf(ops[i]))
      uses[size_t(access.slot)].push_back({i, access.write});
  for (size_t slot = 0; slot < numSlots; ++slot)
    for (size_t x = 0; x < uses[slot].size(); ++x)
      for (size_t y = x + 1; y < uses[slot].size(); ++y) {
        auto [a, aWrites] = uses[slot][x];
        auto [b, bWrites] = uses[slot][y];
        if (ops[a].stream != ops[b].stream && (aWrites || bWrites) &&
            !ordered(a, b))
          return "ops " + std::to_string(a) + " and " + std::to_string(b) +
                 " use the " + slots[slot].what +
                 " slot on different streams without an event between them";
      }
  return std::nullopt;
}

std::optional<std::string> RankProgram::checkEvents() const {
  if (std::optional<std::string> problem = checkOrdering(program, pool))
    return problem;
  std::vector<Op> ops = program;
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t w = 0; w < ops[i].waits.size(); ++w) {
      std::vector<int> waits = ops[i].waits;
      ops[i].waits.erase(ops[i].waits.begin() + long(w));
      bool needed = checkOrdering(ops, pool).has_value();
      ops[i].waits = waits;
      if (!needed)
        return "the wait for event " + std::to_string(waits[w]) +
               " before op " + std::to_string(i) + " orders nothing";
    }
  return std::nullopt;
}

RankProgram::Counts RankProgram::counts() const {
  Counts counts;
  for (const Op &op : program) {
    counts.launches += op.kind == OpKind::Launch;
    counts.allToAlls += op.kind == OpKind::AllToAll;
    counts.transferGroups += op.kind == OpKind::Transfers;
  }
  counts.events = numEvents;
  counts.poolBytes = pool.empty() ? 0 : pool.back().offset + pool.back().bytes;
  return counts;
}

std::vector<std::string> RankProgram::kernels() const {
  std::set<std::string> names;
  for (const Op &op : program)
    if (op.kind == OpKind::Launch)
      names.insert(op.kernel);
  return {names.begin(), names.end()};
}

//===----------------------------------------------------------------------===//
// Issuing
//===----------------------------------------------------------------------===//

pwrt_status RankProgram::setUp(pwrt_context *context) {
  ctx = context;
  std::vector<int32_t> members;
  for (int i = 0; i < shape.parallel; ++i)
    members.push_back(pipelineRank * shape.parallel + i);
  pwrt_status status;
  if ((status = pwrt_group_create(ctx, members.data(), members.size(),
                                  &group)) != PWRT_OK ||
      (status = pwrt_stream_create(ctx, "compute", &streams[kCompute])) !=
          PWRT_OK ||
      (status = pwrt_stream_create(ctx, "comm", &streams[kComm])) != PWRT_OK)
    return status;
  events.assign(size_t(numEvents), -1);
  for (pwrt_event &event : events)
    if ((status = pwrt_event_create(ctx, &event)) != PWRT_OK)
      return status;
  if ((status = pwrt_pool_create(ctx, std::max<size_t>(counts().poolBytes, 1),
                                 0)) != PWRT_OK)
    return status;
  for (Slot &slot : pool)
    if ((status = pwrt_buffer_at(ctx, slot.offset, slot.bytes, &slot.data)) !=
        PWRT_OK)
      return status;
  kernelIds.assign(program.size(), -1);
  for (size_t i = 0; i < program.size(); ++i)
    if (program[i].kind == OpKind::Launch &&
        (status = pwrt_kernel_lookup(ctx, program[i].kernel.c_str(),
                                     &kernelIds[i])) != PWRT_OK)
      return status;
  return PWRT_OK;
}

void RankProgram::check(pwrt_status status, const char *what) {
  if (status == PWRT_OK || failed)
    return;
  // Fail the step everywhere but keep enqueueing, so that no peer waits
  // for a transfer or all-to-all this process left out.
  failed = true;
  std::string message = std::string(what) + ": " + pwrt_last_error(ctx);
  pwrt_step_fail(ctx, status, message.c_str());
}

pwrt_status RankProgram::step() {
  failed = false;
  if (pwrt_status status = pwrt_step_begin(ctx))
    return status;
  auto buffers = [&](const std::vector<int> &slots) {
    std::vector<pwrt_buffer> result;
    for (int slot : slots)
      result.push_back({pool[size_t(slot)].data, pool[size_t(slot)].bytes});
    return result;
  };
  for (size_t i = 0; i < program.size(); ++i) {
    const Op &op = program[i];
    pwrt_stream stream = streams[op.stream];
    for (int event : op.waits)
      check(pwrt_stream_wait_event(ctx, stream, events[size_t(event)]),
            "pwrt_stream_wait_event");
    switch (op.kind) {
    case OpKind::Launch: {
      std::vector<pwrt_buffer> inputs = buffers(op.inputs),
                               outputs = buffers(op.outputs);
      pwrt_kernel_args args;
      std::memset(&args, 0, sizeof(args));
      args.kind = op.action;
      args.stage = op.stage;
      args.microbatch = op.microbatch;
      args.stage2 = args.microbatch2 = -1;
      args.layer = op.layer;
      args.inputs = inputs.data();
      args.num_inputs = inputs.size();
      args.outputs = outputs.data();
      args.num_outputs = outputs.size();
      check(pwrt_launch(ctx, stream, kernelIds[i], &args), "pwrt_launch");
      break;
    }
    case OpKind::AllToAll: {
      const Slot &send = pool[size_t(op.send)], &recv = pool[size_t(op.recv)];
      pwrt_all_to_all_args args;
      std::memset(&args, 0, sizeof(args));
      args.send = send.data;
      args.send_bytes = send.bytes;
      args.recv = recv.data;
      args.recv_bytes = recv.bytes;
      args.row_bytes = op.rowBytes;
      args.name = op.name.c_str();
      args.kind = op.action;
      args.stage = op.stage;
      args.microbatch = op.microbatch;
      args.layer = op.layer;
      check(pwrt_all_to_all(ctx, stream, group, &args), "pwrt_all_to_all");
      break;
    }
    case OpKind::Transfers:
      check(pwrt_p2p_group_begin(ctx, stream), "pwrt_p2p_group_begin");
      for (const Transfer &t : op.transfers) {
        const Slot &slot = pool[size_t(t.slot)];
        pwrt_transfer message = {slot.data, slot.bytes, t.peer,      t.tag,
                                 t.payload, t.stage,    t.microbatch};
        check(t.isSend ? pwrt_send(ctx, stream, &message)
                       : pwrt_recv(ctx, stream, &message),
              t.isSend ? "pwrt_send" : "pwrt_recv");
      }
      check(pwrt_p2p_group_end(ctx, stream), "pwrt_p2p_group_end");
      break;
    }
    if (op.record >= 0)
      check(pwrt_event_record(ctx, stream, events[size_t(op.record)]),
            "pwrt_event_record");
  }
  return pwrt_step_end(ctx);
}
