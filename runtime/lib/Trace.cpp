//===- Trace.cpp - Chrome trace rendering ---------------------------------===//

#include "Trace.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pwrt {

std::string jsonEscape(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20)
        out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
      else
        out += c;
    }
  }
  return out;
}

namespace {

void appendEvent(std::string &out, const std::string &event) {
  if (!out.empty())
    out += ",\n";
  out += event;
}

std::string sliceName(const Slice &slice, const KernelTable &kernels,
                      const std::vector<std::string> &labels) {
  switch (slice.kind) {
  case SliceKind::Kernel:
    if (slice.kernel >= 0 && size_t(slice.kernel) < kernels.size())
      return kernels[slice.kernel].name;
    return "kernel";
  case SliceKind::Send:
    return fmt::format("send {} to {}", payloadName(pwrt_payload(slice.detail)),
                       slice.peer);
  case SliceKind::Recv:
    return fmt::format("recv {} from {}",
                       payloadName(pwrt_payload(slice.detail)), slice.peer);
  case SliceKind::AllToAll: {
    std::string label = slice.label >= 0 && size_t(slice.label) < labels.size()
                            ? labels[size_t(slice.label)]
                            : std::string();
    return fmt::format("all_to_all{}{} ({})", label.empty() ? "" : " ", label,
                       actionKindName(pwrt_action_kind(slice.detail)));
  }
  case SliceKind::Step:
    return fmt::format("step {}", slice.step);
  }
  return "slice";
}

std::string renderSlice(int rank, int tid, const Slice &slice,
                        const KernelTable &kernels,
                        const std::vector<std::string> &labels) {
  const char *category = "kernel";
  std::string args = fmt::format("\"step\":{}", slice.step);
  switch (slice.kind) {
  case SliceKind::Kernel:
    args += fmt::format(
        ",\"kind\":\"{}\",\"stage\":{},\"microbatch\":{},\"layer\":{}",
        actionKindName(pwrt_action_kind(slice.detail)), slice.stage,
        slice.microbatch, slice.layer);
    break;
  case SliceKind::Send:
  case SliceKind::Recv:
    category = "transfer";
    args += fmt::format(
        ",\"peer\":{},\"bytes\":{},\"tag\":{},\"stage\":{},\"microbatch\":{}",
        slice.peer, slice.bytes, slice.tag, slice.stage, slice.microbatch);
    break;
  case SliceKind::AllToAll:
    // Communication like a transfer: tools that measure how much of it
    // hides under compute (pw-prof) count it without knowing all-to-alls.
    category = "transfer";
    args += fmt::format(
        ",\"kind\":\"all_to_all\",\"direction\":\"{}\",\"stage\":{},"
        "\"microbatch\":{},\"layer\":{},\"group\":{},\"rows_sent\":{},"
        "\"rows_received\":{},\"row_bytes\":{}",
        actionKindName(pwrt_action_kind(slice.detail)), slice.stage,
        slice.microbatch, slice.layer, slice.peer, slice.rowsSent,
        slice.rowsReceived, slice.bytes);
    break;
  case SliceKind::Step:
    category = "step";
    break;
  }
  // Microseconds with nanosecond digits: Chrome's unit, lossless.
  return fmt::format("{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":{}.{:03},"
                     "\"dur\":{}.{:03},\"name\":\"{}\",\"cat\":\"{}\","
                     "\"args\":{{{}}}}}",
                     rank, tid, slice.beginNs / 1000, slice.beginNs % 1000,
                     (slice.endNs - slice.beginNs) / 1000,
                     (slice.endNs - slice.beginNs) % 1000,
                     jsonEscape(sliceName(slice, kernels, labels)), category,
                     args);
}

} // namespace

std::string renderRankTrace(int rank, const std::vector<StreamTrace> &streams,
                            const std::vector<Slice> &steps,
                            const KernelTable &kernels,
                            const std::vector<std::string> &labels) {
  std::string out;
  appendEvent(out, fmt::format("{{\"ph\":\"M\",\"pid\":{0},\"name\":"
                               "\"process_name\",\"args\":{{\"name\":"
                               "\"rank {0}\"}}}}",
                               rank));
  appendEvent(out, fmt::format("{{\"ph\":\"M\",\"pid\":{0},\"name\":"
                               "\"process_sort_index\",\"args\":{{"
                               "\"sort_index\":{0}}}}}",
                               rank));
  int hostTid = int(streams.size());
  for (size_t tid = 0; tid <= streams.size(); ++tid) {
    std::string name = tid < streams.size() ? streams[tid].name : "steps";
    appendEvent(out, fmt::format("{{\"ph\":\"M\",\"pid\":{},\"tid\":{},"
                                 "\"name\":\"thread_name\",\"args\":{{"
                                 "\"name\":\"{}\"}}}}",
                                 rank, tid, jsonEscape(name)));
  }
  for (size_t tid = 0; tid < streams.size(); ++tid)
    for (const Slice &slice : *streams[tid].slices)
      appendEvent(out, renderSlice(rank, int(tid), slice, kernels, labels));
  for (const Slice &slice : steps)
    appendEvent(out, renderSlice(rank, hostTid, slice, kernels, labels));
  return out;
}

Error writeTraceFile(const std::string &path,
                     const std::vector<std::string> &rankEvents) {
  std::FILE *file = std::fopen(path.c_str(), "w");
  if (!file)
    return makeError(PWRT_ERROR_IO, "cannot write the trace to '{}': {}", path,
                     std::strerror(errno));
  bool ok = std::fputs("{\"traceEvents\":[\n", file) >= 0;
  bool first = true;
  for (const std::string &events : rankEvents) {
    if (events.empty())
      continue;
    if (!first)
      ok = ok && std::fputs(",\n", file) >= 0;
    ok = ok &&
         std::fwrite(events.data(), 1, events.size(), file) == events.size();
    first = false;
  }
  ok = ok && std::fputs("\n],\"displayTimeUnit\":\"ms\"}\n", file) >= 0;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok)
    return makeError(PWRT_ERROR_IO, "writing the trace to '{}' failed", path);
  return Error::ok();
}

} // namespace pwrt
