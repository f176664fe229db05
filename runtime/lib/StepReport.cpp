//===- StepReport.cpp - What CUDA ranks agree on at a step's end ----------===//

#include "StepReport.h"

#include <algorithm>
#include <sstream>
#include <tuple>

namespace pwrt {

void MessageSequence::add(int32_t tag, uint64_t bytes) {
  auto mix = [&](uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      digest ^= (value >> (8 * i)) & 0xff;
      digest *= 1099511628211ull;
    }
  };
  mix(uint64_t(uint32_t(tag)));
  mix(bytes);
  ++count;
}

std::string encodeStepReport(const StepReport &report) {
  std::ostringstream out;
  out << (report.failed ? 1 : 0) << ' ' << int(report.status) << ' '
      << report.wallNs << ' ' << report.sent.size() << '\n';
  for (size_t peer = 0; peer < report.sent.size(); ++peer)
    out << report.sent[peer].count << ' ' << report.sent[peer].digest << ' '
        << report.received[peer].count << ' ' << report.received[peer].digest
        << ' ';
  out << '\n' << report.message;
  return out.str();
}

std::optional<StepReport> decodeStepReport(const std::string &text,
                                           int worldSize) {
  std::istringstream in(text);
  StepReport report;
  int failed = 0, status = 0;
  size_t peers = 0;
  if (!(in >> failed >> status >> report.wallNs >> peers) ||
      peers != size_t(worldSize))
    return std::nullopt;
  report.failed = failed != 0;
  report.status = pwrt_status(status);
  report.sent.resize(peers);
  report.received.resize(peers);
  for (size_t peer = 0; peer < peers; ++peer)
    if (!(in >> report.sent[peer].count >> report.sent[peer].digest >>
          report.received[peer].count >> report.received[peer].digest))
      return std::nullopt;
  size_t messageStart = text.find('\n', text.find('\n') + 1);
  if (messageStart == std::string::npos)
    return std::nullopt;
  report.message = text.substr(messageStart + 1);
  return report;
}

Error combineStepReports(const std::vector<StepReport> &reports,
                         bool checkOrder) {
  int ranks = int(reports.size());
  if (checkOrder) {
    for (int from = 0; from < ranks; ++from)
      for (int to = 0; to < ranks; ++to) {
        const MessageSequence &sent = reports[size_t(from)].sent[size_t(to)];
        const MessageSequence &received =
            reports[size_t(to)].received[size_t(from)];
        if (sent == received)
          continue;
        return Error(
            PWRT_ERROR_DEVICE,
            fmt::format(
                "the messages from rank {} to rank {} do not pair up: rank {} "
                "sent {} and rank {} received {}, {}; NCCL pairs messages by "
                "their order, so both ends must issue the same sizes in the "
                "same order",
                from, to, from, sent.count, to, received.count,
                sent.count == received.count
                    ? "in another order or of other sizes"
                    : "a different number"),
            /*fatal=*/true);
      }
  }
  std::vector<int> failed;
  for (int rank = 0; rank < ranks; ++rank)
    if (reports[size_t(rank)].failed)
      failed.push_back(rank);
  if (failed.empty())
    return Error::ok();
  std::sort(failed.begin(), failed.end(), [&](int a, int b) {
    return std::tie(reports[size_t(a)].wallNs, a) <
           std::tie(reports[size_t(b)].wallNs, b);
  });
  std::string message = reports[size_t(failed.front())].message;
  for (size_t i = 1; i < failed.size(); ++i)
    message += "; then " + reports[size_t(failed[i])].message;
  return Error(reports[size_t(failed.front())].status, std::move(message));
}

} // namespace pwrt
