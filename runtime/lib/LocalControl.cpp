//===- LocalControl.cpp - Control plane between threads of one process ----===//
//
// In single-process mode every rank is a thread driving its own context; an
// all-gather is a round that each rank joins once, in the same order on
// every rank, and that ends when all have put their value in.
//
//===----------------------------------------------------------------------===//

#include "ControlPlane.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace pwrt {

std::string encodeFatal(const FatalReport &report) {
  return fmt::format("{} {} {} {}\n{}", int(report.status), report.origin,
                     report.lostRank, report.wallNs, report.message);
}

std::optional<FatalReport> decodeFatal(const std::string &text) {
  size_t newline = text.find('\n');
  if (newline == std::string::npos)
    return std::nullopt;
  FatalReport report;
  int status = 0;
  long long wallNs = 0;
  if (std::sscanf(text.substr(0, newline).c_str(), "%d %d %d %lld", &status,
                  &report.origin, &report.lostRank, &wallNs) != 4)
    return std::nullopt;
  report.status = pwrt_status(status);
  report.wallNs = wallNs;
  report.message = text.substr(newline + 1);
  return report;
}

int64_t wallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rankList(const std::vector<int> &ranks) {
  std::string text;
  for (int rank : ranks)
    text += fmt::format("{}rank {}", text.empty() ? "" : ", ", rank);
  return text;
}

LocalGroup::LocalGroup(int size)
    : size(size), nextRound(static_cast<size_t>(size), 0) {}

void LocalGroup::announceLocked(const FatalReport &report) {
  if (!fatal)
    fatal = report;
  changed.notify_all();
}

namespace {

class LocalControl final : public ControlPlane {
public:
  LocalControl(std::shared_ptr<LocalGroup> group, int rank,
               double timeoutSeconds)
      : group(std::move(group)), myRank(rank), timeoutSeconds(timeoutSeconds) {}

  int rank() const override { return myRank; }
  int size() const override { return group->size; }
  int localRank() const override { return myRank; }
  bool singleProcess() const override { return true; }

  std::optional<FatalReport> allGather(const std::string &mine,
                                       std::vector<std::string> &all,
                                       const std::string &what) override {
    using Clock = std::chrono::steady_clock;
    std::unique_lock<std::mutex> lock(group->mutex);
    if (group->fatal)
      return group->fatal;
    uint64_t index = group->nextRound[size_t(myRank)]++;
    LocalGroup::Round &round = group->rounds[index];
    if (round.values.empty()) {
      round.values.resize(size_t(group->size));
      round.arrived.assign(size_t(group->size), false);
    }
    round.values[size_t(myRank)] = mine;
    round.arrived[size_t(myRank)] = true;
    ++round.count;
    group->changed.notify_all();

    // The timeout counts from the last arrival: a slow but moving group
    // is not lost.
    int seen = round.count;
    auto lastProgress = Clock::now();
    auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(timeoutSeconds));
    while (round.count < group->size && !group->fatal) {
      if (group->changed.wait_until(lock, lastProgress + timeout) ==
              std::cv_status::timeout &&
          round.count == seen && !group->fatal) {
        std::vector<int> missing;
        for (int r = 0; r < group->size; ++r)
          if (!round.arrived[size_t(r)])
            missing.push_back(r);
        FatalReport report;
        report.status = PWRT_ERROR_PEER_LOST;
        report.origin = myRank;
        report.lostRank = missing.front();
        report.wallNs = wallClockNs();
        report.message = fmt::format(
            "rank {}: no progress for {:.1f} s while waiting on {} in {}; "
            "presumed lost",
            myRank, timeoutSeconds, rankList(missing), what);
        group->announceLocked(report);
        return group->fatal;
      }
      if (round.count != seen) {
        seen = round.count;
        lastProgress = Clock::now();
      }
    }
    if (group->fatal)
      return group->fatal;
    all = round.values;
    if (++round.departed == group->size)
      group->rounds.erase(index);
    return std::nullopt;
  }

  void announceFatal(const FatalReport &report) override {
    std::lock_guard<std::mutex> lock(group->mutex);
    group->announceLocked(report);
  }

  std::optional<FatalReport> pollFatal() override {
    std::lock_guard<std::mutex> lock(group->mutex);
    return group->fatal;
  }

private:
  std::shared_ptr<LocalGroup> group;
  const int myRank;
  const double timeoutSeconds;
};

} // namespace

std::unique_ptr<ControlPlane>
createLocalControl(std::shared_ptr<LocalGroup> group, int rank,
                   double timeoutSeconds) {
  return std::make_unique<LocalControl>(std::move(group), rank, timeoutSeconds);
}

} // namespace pwrt
