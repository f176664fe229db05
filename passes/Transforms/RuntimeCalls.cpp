//===- RuntimeCalls.cpp - pwrt ops as runtime calls -----------------------===//

#include "passes/Transforms/RuntimeCalls.h"

#include "llvm/ADT/DenseMap.h"

#include <cstring>
#include <set>

using namespace mlir;
using namespace pipeweave;

std::vector<std::string> pipeweave::kernelsOf(pwrt::ProgramOp program) {
  llvm::DenseSet<StringAttr> seen;
  std::set<std::string> names;
  program.walk([&](pwrt::LaunchOp launch) {
    if (seen.insert(launch.getKernelAttr()).second)
      names.insert(launch.getKernel().str());
  });
  return {names.begin(), names.end()};
}

std::vector<std::string> pipeweave::allToAllsOf(pwrt::ProgramOp program) {
  std::set<std::string> names;
  program.walk(
      [&](pwrt::AllToAllOp op) { names.insert(op.getComponent().str()); });
  return {names.begin(), names.end()};
}

int32_t pipeweave::expertParallelOf(pwrt::ProgramOp program) {
  return static_cast<int32_t>(program.getExpertParallel().value_or(1));
}

bool pipeweave::usesTables(pwrt::ProgramOp program, int64_t threshold) {
  if (threshold < 0)
    return false;
  // Counts until past the threshold.
  int64_t calls = 0;
  for (pwrt::RankOp rank : program.getBody().getOps<pwrt::RankOp>())
    for (Operation &op : rank.getBody().front()) {
      if (isa<pwrt::LaunchOp, pwrt::RecordOp, pwrt::WaitOp, pwrt::AllToAllOp>(
              op))
        ++calls;
      else if (auto group = dyn_cast<pwrt::P2PGroupOp>(op))
        calls += 2 + group.getBody().front().getOperations().size();
      if (calls > threshold)
        return true;
    }
  return false;
}

/// PWRT_CG_FORWARD ... PWRT_CG_LOSS.
static int32_t kindCode(pwrt::LaunchKind kind) {
  switch (kind) {
  case pwrt::LaunchKind::Forward:
    return 0;
  case pwrt::LaunchKind::BackwardInput:
    return 1;
  case pwrt::LaunchKind::BackwardWeight:
    return 2;
  case pwrt::LaunchKind::Backward:
    return 3;
  case pwrt::LaunchKind::Loss:
    return 4;
  }
  llvm_unreachable("unknown launch kind");
}

RankCalls pipeweave::runtimeCallsOf(pwrt::RankOp rank,
                                    ArrayRef<std::string> kernels,
                                    ArrayRef<std::string> allToAlls) {
  // Streams and events are numbered in order of definition (which comes
  // before every use).
  llvm::DenseMap<Value, int32_t> numberOf;
  int32_t streams = 0;
  RankCalls result;
  std::vector<RuntimeCall> &calls = result.calls;
  llvm::DenseMap<StringAttr, int32_t> kernelIndex;
  auto indexOf = [&](StringAttr kernel) {
    auto [it, inserted] = kernelIndex.try_emplace(kernel, 0);
    if (inserted)
      it->second = llvm::find(kernels, kernel.getValue()) - kernels.begin();
    return it->second;
  };

  constexpr pwrt::Slot kNone{-1, 0};
  for (Operation &op : rank.getBody().front()) {
    if (auto stream = dyn_cast<pwrt::StreamOp>(op)) {
      numberOf[stream] = streams++;
    } else if (auto launch = dyn_cast<pwrt::LaunchOp>(op)) {
      RuntimeCall &call = calls.emplace_back();
      call.kind = CallKind::Launch;
      call.op = launch;
      call.stream = numberOf.lookup(launch.getStream());
      int32_t kind = kindCode(launch.getKind());
      call.fields = {indexOf(launch.getKernelAttr()), kind,
                     static_cast<int32_t>(launch.getStage()),
                     static_cast<int32_t>(launch.getMb()), 0};
      // Positions by kind, as pwrt_codegen.h documents.
      const pwrt::LaunchBuffers &buffers = launch.getBuffers();
      auto slot = [&](pwrt::LaunchRole role) {
        return buffers.get(role).value_or(kNone);
      };
      using Role = pwrt::LaunchRole;
      bool forward = launch.getKind() == pwrt::LaunchKind::Forward;
      bool loss = launch.getKind() == pwrt::LaunchKind::Loss;
      if (forward || loss)
        call.slots = {slot(Role::Input), kNone,
                      slot(forward ? Role::Output : Role::GradOutput),
                      forward ? slot(Role::Saved) : kNone};
      else
        call.slots = {slot(Role::GradOutput), slot(Role::Saved),
                      slot(Role::GradInput), kNone};
      // A component's launch (no saved slot: the verifier says so).
      if (launch.getLayer() >= 0) {
        call.kind = CallKind::LaunchLayer;
        call.fields[4] = static_cast<int32_t>(launch.getLayer());
      }
    } else if (auto exchange = dyn_cast<pwrt::AllToAllOp>(op)) {
      RuntimeCall &call = calls.emplace_back();
      call.kind = CallKind::AllToAll;
      call.op = exchange;
      call.stream = numberOf.lookup(exchange.getStream());
      call.fields = {static_cast<int32_t>(
                         llvm::find(allToAlls, exchange.getComponent().str()) -
                         allToAlls.begin()),
                     kindCode(exchange.getKind()),
                     static_cast<int32_t>(exchange.getStage()),
                     static_cast<int32_t>(exchange.getMb()),
                     static_cast<int32_t>(exchange.getLayer()),
                     static_cast<int32_t>(exchange.getRowBytes())};
      call.slots = {
          pwrt::Slot{exchange.getSendOffset(), exchange.getSendBytes()},
          pwrt::Slot{exchange.getRecvOffset(), exchange.getRecvBytes()}, kNone,
          kNone};
    } else if (auto record = dyn_cast<pwrt::RecordOp>(op)) {
      RuntimeCall &call = calls.emplace_back();
      call.kind = CallKind::Record;
      call.op = record;
      call.stream = numberOf.lookup(record.getStream());
      call.fields[0] = result.numEvents;
      numberOf[record] = result.numEvents++;
    } else if (auto wait = dyn_cast<pwrt::WaitOp>(op)) {
      RuntimeCall &call = calls.emplace_back();
      call.kind = CallKind::Wait;
      call.op = wait;
      call.stream = numberOf.lookup(wait.getStream());
      call.fields[0] = numberOf.lookup(wait.getEvent());
    } else if (auto group = dyn_cast<pwrt::P2PGroupOp>(op)) {
      int32_t stream = numberOf.lookup(group.getStream());
      calls.push_back({CallKind::GroupBegin, stream, {}, {}, group});
      for (Operation &transfer : group.getBody().front()) {
        auto add = [&](auto t, CallKind kind) {
          RuntimeCall &call = calls.emplace_back();
          call.kind = kind;
          call.op = t;
          call.stream = stream;
          call.fields = {static_cast<int32_t>(t.getPeer()),
                         static_cast<int32_t>(t.getTag()),
                         t.getPayload() == pwrt::Payload::Activation ? 0 : 1,
                         static_cast<int32_t>(t.getStage()),
                         static_cast<int32_t>(t.getMb())};
          call.slots[0] = {t.getOffset(), t.getBytes()};
        };
        if (auto send = dyn_cast<pwrt::SendOp>(transfer))
          add(send, CallKind::Send);
        else if (auto recv = dyn_cast<pwrt::RecvOp>(transfer))
          add(recv, CallKind::Recv);
      }
      calls.push_back({CallKind::GroupEnd, stream, {}, {}, group});
    }
  }
  return result;
}

StringRef pipeweave::calleeOf(const RuntimeCall &call) {
  switch (call.kind) {
  case CallKind::Launch:
    return "pwrt_cg_launch";
  case CallKind::Record:
    return "pwrt_cg_record";
  case CallKind::Wait:
    return "pwrt_cg_wait";
  case CallKind::GroupBegin:
    return "pwrt_cg_group_begin";
  case CallKind::Send:
    return "pwrt_cg_send";
  case CallKind::Recv:
    return "pwrt_cg_recv";
  case CallKind::GroupEnd:
    return "pwrt_cg_group_end";
  case CallKind::LaunchLayer:
    return "pwrt_cg_launch_layer";
  case CallKind::AllToAll:
    return "pwrt_cg_all_to_all";
  }
  llvm_unreachable("unknown call kind");
}

SmallVector<CallArg, 13> pipeweave::argumentsOf(const RuntimeCall &call) {
  auto i32 = [](int64_t value) { return CallArg{CallArg::I32, value}; };
  auto i64 = [](int64_t value) { return CallArg{CallArg::I64, value}; };
  SmallVector<CallArg, 13> args = {i32(call.stream)};
  switch (call.kind) {
  case CallKind::Launch:
    for (int32_t field : ArrayRef(call.fields).take_front(4))
      args.push_back(i32(field));
    for (const pwrt::Slot &slot : call.slots) {
      args.push_back(i64(slot.offset));
      args.push_back(i64(slot.bytes));
    }
    break;
  case CallKind::Record:
  case CallKind::Wait:
    args.push_back(i32(call.fields[0]));
    break;
  case CallKind::GroupBegin:
  case CallKind::GroupEnd:
    break;
  case CallKind::Send:
  case CallKind::Recv:
    for (int32_t field : ArrayRef(call.fields).take_front(5))
      args.push_back(i32(field));
    args.push_back(i64(call.slots[0].offset));
    args.push_back(i64(call.slots[0].bytes));
    break;
  case CallKind::LaunchLayer:
    for (int32_t field : ArrayRef(call.fields).take_front(5))
      args.push_back(i32(field));
    for (int slot : {0, 2}) {
      args.push_back(i64(call.slots[slot].offset));
      args.push_back(i64(call.slots[slot].bytes));
    }
    break;
  case CallKind::AllToAll:
    for (int32_t field : ArrayRef(call.fields).take_front(5))
      args.push_back(i32(field));
    args.push_back(i64(call.fields[5]));
    for (int slot : {0, 1}) {
      args.push_back(i64(call.slots[slot].offset));
      args.push_back(i64(call.slots[slot].bytes));
    }
    break;
  }
  return args;
}

std::string pipeweave::commentOf(const RuntimeCall &call) {
  if (auto exchange = dyn_cast_or_null<pwrt::AllToAllOp>(call.op))
    return (pwrt::stringifyLaunchKind(exchange.getKind()) + " stage " +
            Twine(exchange.getStage()) + " mb " + Twine(exchange.getMb()) +
            " layer " + Twine(exchange.getLayer()) + ": all-to-all " +
            exchange.getComponent())
        .str();
  auto launch = dyn_cast_or_null<pwrt::LaunchOp>(call.op);
  if (!launch)
    return "";
  std::string layer = launch.getLayer() >= 0
                          ? " layer " + std::to_string(launch.getLayer())
                          : "";
  return (pwrt::stringifyLaunchKind(launch.getKind()) + " stage " +
          Twine(launch.getStage()) + " mb " + Twine(launch.getMb()) + layer +
          ": " + launch.getKernel())
      .str();
}

namespace {
/// Numbers distinct slots in order of first use. An open-addressing table:
/// a rank looks slots up hundreds of thousands of times but has few.
class SlotNumbering {
public:
  explicit SlotNumbering(std::vector<int64_t> &slots) : slots(slots) {
    entries.assign(64, Entry{});
  }

  int32_t numberOf(const pwrt::Slot &slot) {
    if (slot.offset < 0)
      return -1;
    size_t mask = entries.size() - 1;
    uint64_t hash = static_cast<uint64_t>(slot.offset) * 0x9E3779B97F4A7C15ull ^
                    static_cast<uint64_t>(slot.bytes) * 0xC2B2AE3D27D4EB4Full;
    for (size_t i = (hash >> 20) & mask;; i = (i + 1) & mask) {
      Entry &entry = entries[i];
      if (entry.number < 0) {
        entry = {slot.offset, slot.bytes,
                 static_cast<int32_t>(slots.size() / 2)};
        slots.push_back(slot.offset);
        slots.push_back(slot.bytes);
        if (++used * 2 > entries.size())
          grow();
        return static_cast<int32_t>(slots.size() / 2 - 1);
      }
      if (entry.offset == slot.offset && entry.bytes == slot.bytes)
        return entry.number;
    }
  }

private:
  struct Entry {
    int64_t offset = 0, bytes = 0;
    int32_t number = -1;
  };

  void grow() {
    std::vector<Entry> old = std::move(entries);
    entries.assign(old.size() * 2, Entry{});
    size_t mask = entries.size() - 1;
    for (const Entry &entry : old) {
      if (entry.number < 0)
        continue;
      uint64_t hash =
          static_cast<uint64_t>(entry.offset) * 0x9E3779B97F4A7C15ull ^
          static_cast<uint64_t>(entry.bytes) * 0xC2B2AE3D27D4EB4Full;
      size_t i = (hash >> 20) & mask;
      while (entries[i].number >= 0)
        i = (i + 1) & mask;
      entries[i] = entry;
    }
  }

  std::vector<int64_t> &slots;
  std::vector<Entry> entries;
  size_t used = 0;
};
} // namespace

CallTable pipeweave::tableOf(ArrayRef<RuntimeCall> calls) {
  CallTable table;
  table.records.reserve(calls.size() * kRecordWidth);
  SlotNumbering numbering(table.slots);
  auto indexOf = [&](const pwrt::Slot &slot) {
    return numbering.numberOf(slot);
  };
  for (const RuntimeCall &call : calls) {
    std::array<int32_t, kRecordWidth> record{};
    record[0] = static_cast<int32_t>(call.kind);
    record[1] = call.stream;
    switch (call.kind) {
    case CallKind::Launch:
      for (int i = 0; i < 4; ++i)
        record[2 + i] = call.fields[i];
      for (int i = 0; i < 4; ++i)
        record[6 + i] = indexOf(call.slots[i]);
      break;
    case CallKind::Record:
    case CallKind::Wait:
      record[2] = call.fields[0];
      break;
    case CallKind::GroupBegin:
    case CallKind::GroupEnd:
      break;
    case CallKind::Send:
    case CallKind::Recv:
      for (int i = 0; i < 5; ++i)
        record[2 + i] = call.fields[i];
      record[7] = indexOf(call.slots[0]);
      break;
    case CallKind::LaunchLayer:
      for (int i = 0; i < 5; ++i)
        record[2 + i] = call.fields[i];
      record[7] = indexOf(call.slots[0]);
      record[8] = indexOf(call.slots[2]);
      record[9] = -1;
      break;
    case CallKind::AllToAll:
      for (int i = 0; i < 6; ++i)
        record[2 + i] = call.fields[i];
      record[8] = indexOf(call.slots[0]);
      record[9] = indexOf(call.slots[1]);
      break;
    }
    table.records.insert(table.records.end(), record.begin(), record.end());
  }
  return table;
}

namespace {
/// "0".."999" as text (padded to 4 bytes), for writing the small numbers
/// tables are made of.
struct SmallNumbers {
  char text[1000][4] = {};
  uint8_t length[1000] = {};
  constexpr SmallNumbers() {
    for (int value = 0; value < 1000; ++value) {
      int digits = value < 10 ? 1 : value < 100 ? 2 : 3;
      for (int i = digits - 1, rest = value; i >= 0; --i, rest /= 10)
        text[value][i] = static_cast<char>('0' + rest % 10);
      length[value] = digits;
    }
  }
};
constexpr SmallNumbers kSmallNumbers;
} // namespace

/// Writes `value` in decimal at `out` (and up to 3 bytes of padding after
/// it); returns the end.
static inline char *writeInteger(char *out, int64_t value) {
  // Nearly every field is small (indices, codes, -1 for none).
  if (value > -1000 && value < 1000) {
    if (value < 0) {
      *out++ = '-';
      value = -value;
    }
    std::memcpy(out, kSmallNumbers.text[value], 4);
    return out + kSmallNumbers.length[value];
  }
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value)
                                 : static_cast<uint64_t>(value);
  if (value < 0)
    *out++ = '-';
  char digits[20];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude);
  while (count)
    *out++ = digits[--count];
  return out;
}

static char *writeText(char *out, StringRef text) {
  std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

// Tables hold millions of integers: each line is formatted into a local
// buffer and appended once.

std::string pipeweave::recordsInitializer(const CallTable &table,
                                          ArrayRef<std::string> kernels) {
  std::string text = "{\n";
  text.reserve(table.records.size() * 3 + 64);
  size_t longestKernel = 0;
  for (const std::string &kernel : kernels)
    longestKernel = std::max(longestKernel, kernel.size());
  std::vector<char> line(kRecordWidth * 22 + 80 + longestKernel);
  for (int64_t i = 0; i < table.numRecords(); ++i) {
    const int32_t *record = &table.records[i * kRecordWidth];
    char *out = line.data();
    *out++ = ' ';
    *out++ = ' ';
    for (int field = 0; field < kRecordWidth; ++field) {
      out = writeInteger(out, record[field]);
      *out++ = ',';
      if (field + 1 < kRecordWidth)
        *out++ = ' ';
    }
    // A launch's fields 2..5: kernel, kind code (the LaunchKind order),
    // stage, mb.
    if ((record[0] == static_cast<int32_t>(CallKind::Launch) ||
         record[0] == static_cast<int32_t>(CallKind::LaunchLayer)) &&
        record[3] >= 0 && record[3] < pwrt::kNumLaunchKinds && record[2] >= 0 &&
        record[2] < static_cast<int32_t>(kernels.size())) {
      out = writeText(out, " // ");
      out = writeText(out, pwrt::stringifyLaunchKind(
                               static_cast<pwrt::LaunchKind>(record[3])));
      out = writeText(out, " stage ");
      out = writeInteger(out, record[4]);
      out = writeText(out, " mb ");
      out = writeInteger(out, record[5]);
      if (record[0] == static_cast<int32_t>(CallKind::LaunchLayer)) {
        out = writeText(out, " layer ");
        out = writeInteger(out, record[6]);
      }
      out = writeText(out, ": ");
      out = writeText(out, kernels[record[2]]);
    }
    *out++ = '\n';
    text.append(line.data(), out);
  }
  text += "}";
  return text;
}

std::string pipeweave::slotsInitializer(const CallTable &table) {
  std::string text = "{\n";
  char line[64];
  for (int64_t i = 0; i < table.numSlots(); ++i) {
    char *out = writeText(line, "  ");
    out = writeInteger(out, table.slots[2 * i]);
    out = writeText(out, ", ");
    out = writeInteger(out, table.slots[2 * i + 1]);
    out = writeText(out, ",\n");
    text.append(line, out);
  }
  text += "}";
  return text;
}
