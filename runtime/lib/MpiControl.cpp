//===- MpiControl.cpp - Control plane between processes over MPI ----------===//
//
// One process per rank. An all-gather is point to point (every rank sends
// its value to every other and probes for theirs) rather than
// MPI_Allgatherv, so that a wait that times out can name the ranks it still
// misses. Fatal announcements travel on their own communicator, received
// by a request that is always posted.
//
//===----------------------------------------------------------------------===//

#include "ControlPlane.h"
#include "Mpi.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sched.h>
#include <thread>

namespace pwrt {
namespace {

constexpr int kGatherTag = 11;
constexpr int kFatalTag = 12;
constexpr size_t kFatalBytes = 4096;

int64_t steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class MpiControl final : public ControlPlane {
public:
  explicit MpiControl(double timeoutSeconds)
      : timeoutSeconds(timeoutSeconds),
        timeoutNs(int64_t(timeoutSeconds * 1e9)) {}
  ~MpiControl() override;

  Error initialize();

  int rank() const override { return myRank; }
  int size() const override { return numRanks; }
  int localRank() const override { return nodeRank; }
  bool singleProcess() const override { return numRanks == 1; }

  std::optional<FatalReport> allGather(const std::string &mine,
                                       std::vector<std::string> &all,
                                       const std::string &what) override;
  void announceFatal(const FatalReport &report) override;
  std::optional<FatalReport> pollFatal() override;
  void markBroken() override {
    broken = true;
    mpi::markBroken();
  }

private:
  FatalReport mpiFailure(int rc, const std::string &doing) const {
    FatalReport report;
    report.status = PWRT_ERROR_MPI;
    report.origin = myRank;
    report.wallNs = wallClockNs();
    report.message = fmt::format("rank {}: {} failed: {}", myRank, doing,
                                 mpi::errorString(rc));
    return report;
  }
  void postFatalReceive();
  /// Keeps `buffer` alive until `request` completes (or for good, if the
  /// job breaks first): MPI reads it until then.
  void keepUntilSent(MPI_Request request,
                     std::shared_ptr<const std::string> buffer) {
    outgoing.push_back(Outgoing{request, std::move(buffer)});
  }
  void reapOutgoing();

  const double timeoutSeconds;
  const int64_t timeoutNs;
  int myRank = 0;
  int numRanks = 1;
  int nodeRank = 0;
  MPI_Comm gatherComm = MPI_COMM_NULL;
  MPI_Comm fatalComm = MPI_COMM_NULL;
  MPI_Request fatalRequest = MPI_REQUEST_NULL;
  std::vector<char> fatalIn = std::vector<char>(kFatalBytes);
  struct Outgoing {
    MPI_Request request;
    std::shared_ptr<const std::string> buffer;
  };
  // Announcements, and the sends of all-gathers that gave up.
  std::vector<Outgoing> outgoing;
  bool retained = false;
  bool broken = false;
};

Error MpiControl::initialize() {
  if (Error error = mpi::initialize())
    return error;
  mpi::retain();
  retained = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &myRank);
  MPI_Comm_size(MPI_COMM_WORLD, &numRanks);
  for (MPI_Comm *comm : {&gatherComm, &fatalComm}) {
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, comm);
    if (rc != MPI_SUCCESS)
      return makeError(PWRT_ERROR_MPI, "MPI_Comm_dup failed: {}",
                       mpi::errorString(rc));
    MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN);
  }
  MPI_Comm node = MPI_COMM_NULL;
  int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, myRank,
                               MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS)
    return makeError(PWRT_ERROR_MPI,
                     "MPI_Comm_split_type (ranks of this node) failed: {}",
                     mpi::errorString(rc));
  MPI_Comm_rank(node, &nodeRank);
  MPI_Comm_free(&node);
  postFatalReceive();
  return Error::ok();
}

MpiControl::~MpiControl() {
  // The posted receive would write into fatalIn after it is freed: cancel
  // it (a local operation, safe also when peers are gone).
  if (fatalRequest != MPI_REQUEST_NULL) {
    MPI_Cancel(&fatalRequest);
    MPI_Wait(&fatalRequest, MPI_STATUS_IGNORE);
  }
  // Sends still in flight keep their buffers: MPI reads them until they
  // complete, which may be never when the job is broken.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(broken ? 0 : 200);
  do
    reapOutgoing();
  while (!outgoing.empty() && std::chrono::steady_clock::now() < deadline);
  if (!outgoing.empty()) {
    static auto *kept = new std::vector<Outgoing>();
    for (Outgoing &entry : outgoing) {
      MPI_Request_free(&entry.request);
      kept->push_back(std::move(entry));
    }
    outgoing.clear();
  }
  if (!broken)
    for (MPI_Comm *comm : {&gatherComm, &fatalComm})
      if (*comm != MPI_COMM_NULL)
        MPI_Comm_free(comm);
  if (retained)
    mpi::release();
}

void MpiControl::reapOutgoing() {
  auto done =
      std::remove_if(outgoing.begin(), outgoing.end(), [](Outgoing &entry) {
        int finished = 0;
        MPI_Test(&entry.request, &finished, MPI_STATUS_IGNORE);
        return finished != 0;
      });
  outgoing.erase(done, outgoing.end());
}

void MpiControl::postFatalReceive() {
  if (numRanks > 1)
    MPI_Irecv(fatalIn.data(), int(fatalIn.size()), MPI_CHAR, MPI_ANY_SOURCE,
              kFatalTag, fatalComm, &fatalRequest);
}

std::optional<FatalReport> MpiControl::allGather(const std::string &mine,
                                                 std::vector<std::string> &all,
                                                 const std::string &what) {
  all.assign(size_t(numRanks), std::string());
  all[size_t(myRank)] = mine;
  if (numRanks == 1)
    return std::nullopt;
  if (std::optional<FatalReport> fatal = pollFatal())
    return fatal;
  reapOutgoing();

  // Our own copy: if this gives up, the sends may still read it.
  auto buffer = std::make_shared<const std::string>(mine);
  std::vector<MPI_Request> sends;
  std::vector<int> sendPeer;
  auto giveUp = [&](FatalReport report) {
    for (MPI_Request request : sends)
      if (request != MPI_REQUEST_NULL)
        keepUntilSent(request, buffer);
    return report;
  };
  for (int peer = 0; peer < numRanks; ++peer) {
    if (peer == myRank)
      continue;
    MPI_Request request;
    int rc = MPI_Isend(buffer->data(), int(buffer->size()), MPI_CHAR, peer,
                       kGatherTag, gatherComm, &request);
    if (rc != MPI_SUCCESS)
      return giveUp(mpiFailure(rc, "sending " + what));
    sends.push_back(request);
    sendPeer.push_back(peer);
  }
  std::vector<bool> received(size_t(numRanks), false);
  received[size_t(myRank)] = true;
  int receivedCount = 1, sentCount = 0;
  int64_t lastProgressNs = steadyNs();
  for (int round = 0;; ++round) {
    bool progressed = false;
    for (int peer = 0; peer < numRanks; ++peer) {
      if (received[size_t(peer)])
        continue;
      int flag = 0;
      MPI_Status status;
      int rc = MPI_Iprobe(peer, kGatherTag, gatherComm, &flag, &status);
      if (rc != MPI_SUCCESS)
        return giveUp(mpiFailure(rc, "receiving " + what));
      if (!flag)
        continue;
      int length = 0;
      MPI_Get_count(&status, MPI_CHAR, &length);
      all[size_t(peer)].resize(size_t(length));
      rc = MPI_Recv(all[size_t(peer)].data(), length, MPI_CHAR, peer,
                    kGatherTag, gatherComm, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS)
        return giveUp(mpiFailure(rc, "receiving " + what));
      received[size_t(peer)] = true;
      ++receivedCount;
      progressed = true;
    }
    for (MPI_Request &request : sends) {
      if (request == MPI_REQUEST_NULL)
        continue;
      int done = 0;
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) {
        ++sentCount;
        progressed = true;
      }
    }
    if (receivedCount == numRanks && sentCount == int(sends.size()))
      return std::nullopt;
    if (std::optional<FatalReport> fatal = pollFatal())
      return giveUp(*fatal);
    int64_t nowNs = steadyNs();
    if (progressed)
      lastProgressNs = nowNs;
    if (nowNs - lastProgressNs > timeoutNs) {
      std::vector<int> missing;
      for (int peer = 0; peer < numRanks; ++peer)
        if (!received[size_t(peer)])
          missing.push_back(peer);
      for (size_t s = 0; s < sends.size(); ++s)
        if (sends[s] != MPI_REQUEST_NULL && received[size_t(sendPeer[s])])
          missing.push_back(sendPeer[s]);
      FatalReport report;
      report.status = PWRT_ERROR_PEER_LOST;
      report.origin = myRank;
      report.lostRank = missing.front();
      report.wallNs = wallClockNs();
      report.message =
          fmt::format("rank {}: no progress for {:.1f} s while waiting on {} "
                      "in {}; presumed lost",
                      myRank, timeoutSeconds, rankList(missing), what);
      announceFatal(report);
      markBroken();
      return giveUp(report);
    }
    // Spin briefly, then give the core away: peers may share it.
    if (round < 64)
      continue;
    if (nowNs - lastProgressNs < 1'000'000)
      sched_yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void MpiControl::announceFatal(const FatalReport &report) {
  if (numRanks == 1)
    return;
  std::string text = encodeFatal(report);
  if (text.size() >= kFatalBytes)
    text.resize(kFatalBytes - 1);
  auto buffer = std::make_shared<const std::string>(std::move(text));
  for (int peer = 0; peer < numRanks; ++peer) {
    if (peer == myRank)
      continue;
    MPI_Request request;
    if (MPI_Isend(buffer->data(), int(buffer->size()), MPI_CHAR, peer,
                  kFatalTag, fatalComm, &request) == MPI_SUCCESS)
      keepUntilSent(request, buffer);
  }
}

std::optional<FatalReport> MpiControl::pollFatal() {
  if (fatalRequest == MPI_REQUEST_NULL)
    return std::nullopt;
  int done = 0;
  MPI_Status status;
  if (MPI_Test(&fatalRequest, &done, &status) != MPI_SUCCESS || !done)
    return std::nullopt;
  int length = 0;
  MPI_Get_count(&status, MPI_CHAR, &length);
  std::optional<FatalReport> report =
      decodeFatal(std::string(fatalIn.data(), size_t(length)));
  postFatalReceive();
  return report;
}

} // namespace

bool haveMpiControl() { return true; }

std::unique_ptr<ControlPlane> createMpiControl(double timeoutSeconds,
                                               Error &error) {
  auto control = std::make_unique<MpiControl>(timeoutSeconds);
  error = control->initialize();
  if (error)
    return nullptr;
  return control;
}

} // namespace pwrt
