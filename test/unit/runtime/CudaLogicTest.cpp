//===- CudaLogicTest.cpp - The CUDA backend's host-side logic -------------===//
//
// Everything of the CUDA backend that needs no GPU: backend and transport
// selection, messages for failed calls, the device and transport plan, the
// step reports the ranks agree on, the watchdog's choice of the op that
// holds a step up, the overlap of transfers and kernels in a trace, and the
// in-process control plane and local transport (threads with fake events).
// Expectations are worked out by hand from the rules in each header.
//
//===----------------------------------------------------------------------===//

#include "CallSite.h"
#include "ControlPlane.h"
#include "LocalTransport.h"
#include "Placement.h"
#include "ProgressWatch.h"
#include "Selection.h"
#include "StepReport.h"
#include "TraceStats.h"
#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

using namespace pwrt;

namespace {

//===----------------------------------------------------------------------===//
// Selection
//===----------------------------------------------------------------------===//

TEST(CudaSelection, BackendNames) {
  EXPECT_EQ(parseBackendName("host"), PWRT_BACKEND_HOST);
  EXPECT_EQ(parseBackendName(" CUDA\n"), PWRT_BACKEND_CUDA);
  EXPECT_EQ(parseBackendName("Cuda"), PWRT_BACKEND_CUDA);
  EXPECT_FALSE(parseBackendName("gpu"));
  EXPECT_FALSE(parseBackendName(""));
  EXPECT_FALSE(parseBackendName("cuda12"));
}

TEST(CudaSelection, BackendFromEnvironmentText) {
  EXPECT_EQ(backendFromEnvironment(nullptr), PWRT_BACKEND_HOST);
  EXPECT_EQ(backendFromEnvironment(""), PWRT_BACKEND_HOST);
  EXPECT_EQ(backendFromEnvironment("  "), PWRT_BACKEND_HOST);
  EXPECT_EQ(backendFromEnvironment("cuda"), PWRT_BACKEND_CUDA);
  EXPECT_EQ(backendFromEnvironment("HOST"), PWRT_BACKEND_HOST);
  EXPECT_EQ(backendFromEnvironment("nvidia"), kBackendFromBadEnvironment);
}

TEST(CudaSelection, TransportNames) {
  EXPECT_EQ(parseTransportName(nullptr), TransportChoice::Auto);
  EXPECT_EQ(parseTransportName(""), TransportChoice::Auto);
  EXPECT_EQ(parseTransportName("auto"), TransportChoice::Auto);
  EXPECT_EQ(parseTransportName("NCCL"), TransportChoice::Nccl);
  EXPECT_EQ(parseTransportName(" local "), TransportChoice::Local);
  EXPECT_FALSE(parseTransportName("ipc"));
  EXPECT_STREQ(transportName(TransportChoice::Local), "local");
}

/// PW_BACKEND set for the scope of a test.
struct ScopedBackendVariable {
  explicit ScopedBackendVariable(const char *value) {
    ::setenv("PW_BACKEND", value, 1);
  }
  ~ScopedBackendVariable() { ::unsetenv("PW_BACKEND"); }
};

TEST(CudaSelection, OptionsInitReadsPwBackend) {
  pwrt_context_options options;
  {
    ScopedBackendVariable variable("cuda");
    pwrt_context_options_init(&options);
    EXPECT_EQ(options.backend, PWRT_BACKEND_CUDA);
  }
  pwrt_context_options_init(&options);
  EXPECT_EQ(options.backend, PWRT_BACKEND_HOST);
}

TEST(CudaSelection, BadPwBackendFailsTheContextAndQuotesIt) {
  ScopedBackendVariable variable("gpu");
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.flags = PWRT_FLAG_QUIET;
  pwrt_context *ctx = nullptr;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "PW_BACKEND='gpu' names no backend (host or cuda)");
}

TEST(CudaSelection, ExplicitBackendWinsOverPwBackend) {
  ScopedBackendVariable variable("cuda");
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_HOST; // the program chose
  options.flags = PWRT_FLAG_QUIET;
  pwrt_context *ctx = nullptr;
  ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK);
  EXPECT_EQ(pwrt_cuda_device(ctx), -1) << "the host backend has no device";
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
}

TEST(CudaSelection, StatusOfDeviceErrors) {
  EXPECT_STREQ(pwrt_status_string(PWRT_ERROR_DEVICE), "device error");
  EXPECT_EQ(pwrt_cuda_device(nullptr), -1);
}

//===----------------------------------------------------------------------===//
// Messages of failed calls
//===----------------------------------------------------------------------===//

TEST(CudaCallSite, CalledFunction) {
  EXPECT_EQ(calledFunction("cudaMalloc(&raw, total)"), "cudaMalloc");
  EXPECT_EQ(calledFunction("  ncclGroupEnd ()"), "ncclGroupEnd");
  EXPECT_EQ(calledFunction("::cudaSetDevice(device)"), "cudaSetDevice");
  EXPECT_EQ(calledFunction("cudaEventRecord(marker)"), "cudaEventRecord");
  EXPECT_EQ(calledFunction("ncclSend"), "ncclSend");
}

TEST(CudaCallSite, FullMessage) {
  CallSite site{1,
                "running send activation stage 1 mb 2 to rank 2 (1024 bytes, "
                "tag 5)",
                "comm"};
  EXPECT_EQ(describeFailedCall("ncclGroupEnd()", "ncclRemoteError",
                               "remote process exited or there was a network "
                               "error",
                               site, "NCCL says: peer 2 closed"),
            "rank 1: ncclGroupEnd failed with ncclRemoteError (remote process "
            "exited or there was a network error) while running send "
            "activation stage 1 mb 2 to rank 2 (1024 bytes, tag 5) on stream "
            "'comm'; NCCL says: peer 2 closed");
}

TEST(CudaCallSite, UnknownPartsAreLeftOut) {
  EXPECT_EQ(describeFailedCall("cudaGetDeviceCount(&count)",
                               "cudaErrorNoDevice", "cudaErrorNoDevice",
                               CallSite{}),
            "cudaGetDeviceCount failed with cudaErrorNoDevice");
  EXPECT_EQ(
      describeFailedCall("cudaMalloc(&raw, total)", "cudaErrorMemoryAllocation",
                         "out of memory",
                         CallSite{0, "creating the pool of 64 bytes", ""}),
      "rank 0: cudaMalloc failed with cudaErrorMemoryAllocation (out of "
      "memory) while creating the pool of 64 bytes");
}

//===----------------------------------------------------------------------===//
// Devices and transports
//===----------------------------------------------------------------------===//

RankPlacement at(const char *host, const char *bus, int device) {
  return RankPlacement{host, bus, device};
}

TEST(CudaPlacement, EncodeDecode) {
  RankPlacement p = at("node-1", "00000000:17:00.0", 3);
  std::optional<RankPlacement> back = decodePlacement(encodePlacement(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->host, "node-1");
  EXPECT_EQ(back->deviceId, "00000000:17:00.0");
  EXPECT_EQ(back->device, 3);
  EXPECT_FALSE(decodePlacement("3\nonly-two-lines"));
  EXPECT_FALSE(decodePlacement("x\nbus\nhost"));
}

TEST(CudaPlacement, DeviceOfLocalRank) {
  EXPECT_EQ(deviceForLocalRank(0, 8), 0);
  EXPECT_EQ(deviceForLocalRank(7, 8), 7);
  EXPECT_EQ(deviceForLocalRank(9, 8), 1);
  EXPECT_EQ(deviceForLocalRank(3, 1), 0);
  EXPECT_EQ(deviceForLocalRank(0, 0), -1);
}

TEST(CudaPlacement, RanksWithTheSameProblemAreNamedTogether) {
  EXPECT_EQ(summarizeRankProblems({"no GPU", "no GPU", "no GPU"}),
            "every rank: no GPU");
  EXPECT_EQ(summarizeRankProblems({"", "bad id", "no GPU", "", "no GPU"}),
            "rank 1: bad id; ranks 2, 4: no GPU");
  EXPECT_EQ(summarizeRankProblems({"no GPU"}), "rank 0: no GPU");
  EXPECT_EQ(summarizeRankProblems({"", ""}), "");
}

TEST(CudaPlacement, DistinctGpusUseNccl) {
  // The same bus id on two hosts is two GPUs.
  std::vector<RankPlacement> ranks = {at("a", "bus0", 0), at("a", "bus1", 1),
                                      at("b", "bus0", 0), at("b", "bus1", 1)};
  for (bool single : {false, true}) {
    TransportPlan plan = planTransport(ranks, single, TransportChoice::Auto);
    EXPECT_FALSE(plan.error);
    EXPECT_TRUE(plan.nccl);
  }
}

TEST(CudaPlacement, SharedGpuInOneProcessUsesTheLocalTransport) {
  std::vector<RankPlacement> ranks = {at("a", "bus0", 0), at("a", "bus1", 1),
                                      at("a", "bus0", 0)};
  TransportPlan plan = planTransport(ranks, true, TransportChoice::Auto);
  EXPECT_FALSE(plan.error);
  EXPECT_FALSE(plan.nccl);
  EXPECT_EQ(plan.note.find("ranks 0 and 2 both use GPU bus0 (device 0) on a"),
            0u)
      << plan.note;
}

TEST(CudaPlacement, SharedGpuAcrossProcessesIsAnErrorThatSaysWhatToDo) {
  std::vector<RankPlacement> ranks = {at("a", "bus0", 0), at("a", "bus0", 0)};
  TransportPlan plan = planTransport(ranks, false, TransportChoice::Auto);
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error.code, PWRT_ERROR_UNSUPPORTED);
  EXPECT_EQ(plan.error.message,
            "ranks 0 and 1 both use GPU bus0 (device 0) on a: NCCL cannot put "
            "two ranks of one communicator on one GPU. Start at most one "
            "process per GPU of each node, or run every rank in one process "
            "(pwrt_cuda_contexts_create), where ranks that share a GPU copy "
            "to each other directly");
}

TEST(CudaPlacement, ForcedTransports) {
  std::vector<RankPlacement> distinct = {at("a", "bus0", 0),
                                         at("a", "bus1", 1)};
  std::vector<RankPlacement> shared = {at("a", "bus0", 0), at("a", "bus0", 0)};
  TransportPlan plan = planTransport(distinct, true, TransportChoice::Local);
  EXPECT_FALSE(plan.error);
  EXPECT_FALSE(plan.nccl);
  EXPECT_EQ(plan.note, "PW_CUDA_TRANSPORT=local");
  plan = planTransport(distinct, false, TransportChoice::Local);
  ASSERT_TRUE(plan.error);
  EXPECT_NE(plan.error.message.find("needs every rank in one process"),
            std::string::npos);
  plan = planTransport(shared, true, TransportChoice::Nccl);
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error.message.find("PW_CUDA_TRANSPORT=nccl, but ranks 0 and "
                                    "1 both use GPU bus0"),
            0u);
  plan = planTransport(distinct, false, TransportChoice::Nccl);
  EXPECT_FALSE(plan.error);
  EXPECT_TRUE(plan.nccl);
}

//===----------------------------------------------------------------------===//
// Step reports
//===----------------------------------------------------------------------===//

TEST(CudaStepReport, SequencesDependOnOrderAndSize) {
  MessageSequence a, b, c;
  a.add(1, 1024);
  a.add(2, 1024);
  b.add(2, 1024);
  b.add(1, 1024);
  c.add(1, 1024);
  c.add(2, 1024);
  EXPECT_EQ(a, c);
  EXPECT_FALSE(a == b) << "same messages in another order";
  MessageSequence d;
  d.add(1, 1024);
  d.add(2, 2048);
  EXPECT_FALSE(a == d) << "same tags, another size";
  EXPECT_EQ(a.count, 2u);
}

StepReport report(int ranks) {
  StepReport r;
  r.sent.resize(size_t(ranks));
  r.received.resize(size_t(ranks));
  return r;
}

TEST(CudaStepReport, EncodeDecode) {
  StepReport r = report(3);
  r.failed = true;
  r.status = PWRT_ERROR_KERNEL_FAILED;
  r.wallNs = 1234567890123;
  r.message = "rank 1: kernel 'fwd' failed\nwith two lines";
  r.sent[2].add(7, 64);
  r.received[0].add(3, 32);
  std::optional<StepReport> back = decodeStepReport(encodeStepReport(r), 3);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->failed);
  EXPECT_EQ(back->status, PWRT_ERROR_KERNEL_FAILED);
  EXPECT_EQ(back->wallNs, 1234567890123);
  EXPECT_EQ(back->message, r.message);
  EXPECT_EQ(back->sent[2], r.sent[2]);
  EXPECT_EQ(back->received[0], r.received[0]);
  EXPECT_EQ(back->sent[0].count, 0u);
  EXPECT_FALSE(decodeStepReport(encodeStepReport(r), 4)) << "wrong size";
  EXPECT_FALSE(decodeStepReport("garbage", 3));
}

TEST(CudaStepReport, EarliestFailureFirstThenTheOthers) {
  std::vector<StepReport> reports(3, report(3));
  EXPECT_FALSE(combineStepReports(reports, true));
  reports[2].failed = true;
  reports[2].status = PWRT_ERROR_KERNEL_FAILED;
  reports[2].wallNs = 100;
  reports[2].message = "rank 2: late";
  reports[0].failed = true;
  reports[0].status = PWRT_ERROR_DEVICE;
  reports[0].wallNs = 50;
  reports[0].message = "rank 0: early";
  reports[1].failed = true;
  reports[1].status = PWRT_ERROR_KERNEL_FAILED;
  reports[1].wallNs = 100; // a tie with rank 2: the lower rank first
  reports[1].message = "rank 1: tie";
  Error error = combineStepReports(reports, true);
  EXPECT_EQ(error.code, PWRT_ERROR_DEVICE);
  EXPECT_FALSE(error.fatal);
  EXPECT_EQ(error.message,
            "rank 0: early; then rank 1: tie; then rank 2: late");
}

TEST(CudaStepReport, MessagesIssuedInAnotherOrderAreFatalForNccl) {
  std::vector<StepReport> reports(2, report(2));
  reports[0].sent[1].add(1, 64);
  reports[0].sent[1].add(2, 64);
  reports[1].received[0].add(2, 64);
  reports[1].received[0].add(1, 64);
  Error error = combineStepReports(reports, /*checkOrder=*/true);
  EXPECT_EQ(error.code, PWRT_ERROR_DEVICE);
  EXPECT_TRUE(error.fatal);
  EXPECT_EQ(error.message,
            "the messages from rank 0 to rank 1 do not pair up: rank 0 sent 2 "
            "and rank 1 received 2, in another order or of other sizes; NCCL "
            "pairs messages by their order, so both ends must issue the same "
            "sizes in the same order");
  // The local transport pairs by tag: the order does not matter there.
  EXPECT_FALSE(combineStepReports(reports, /*checkOrder=*/false));
  reports[1].received[0].add(3, 64);
  EXPECT_NE(combineStepReports(reports, true)
                .message.find(
                    "rank 0 sent 2 and rank 1 received 3, a different number"),
            std::string::npos);
}

TEST(CudaStepReport, FatalReportsSurviveTheWire) {
  FatalReport report{PWRT_ERROR_PEER_LOST, 2, 1, 42,
                     "rank 2: no progress\nwhile waiting on rank 1"};
  std::optional<FatalReport> back = decodeFatal(encodeFatal(report));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, PWRT_ERROR_PEER_LOST);
  EXPECT_EQ(back->origin, 2);
  EXPECT_EQ(back->lostRank, 1);
  EXPECT_EQ(back->wallNs, 42);
  EXPECT_EQ(back->message, report.message);
  EXPECT_TRUE(back->toError().fatal);
  EXPECT_FALSE(decodeFatal("no header"));
}

//===----------------------------------------------------------------------===//
// The watchdog
//===----------------------------------------------------------------------===//

WatchedOp waitFor(int stream, int op) {
  WatchedOp wait;
  wait.isWait = true;
  wait.waitStream = stream;
  wait.waitOp = op;
  return wait;
}

TEST(CudaProgressWatch, WaitsCompleteWithTheOpTheyWaitFor) {
  // compute: K0, K1, wait(comm op 1, G1), K3
  // comm:    wait(compute op 1, K1), G1
  ProgressWatch watch;
  watch.reset(2);
  watch.add(0, {});
  watch.add(0, {});
  watch.add(1, waitFor(0, 1));
  watch.add(1, {});
  watch.add(0, waitFor(1, 1));
  watch.add(0, {});
  std::map<std::pair<int, int>, OpState> state;
  auto query = [&](int s, int op) {
    auto found = state.find({s, op});
    return found == state.end() ? OpState::Pending : found->second;
  };
  std::vector<std::pair<int, int>> asked;
  auto recording = [&](int s, int op) {
    asked.emplace_back(s, op);
    return query(s, op);
  };
  EXPECT_FALSE(watch.advance(recording).moved);
  // Only the heads are queried: K0 (its kernel) and nothing on comm,
  // whose head is a wait.
  EXPECT_EQ(asked, (std::vector<std::pair<int, int>>{{0, 0}}));
  EXPECT_EQ(watch.blocker(), std::make_pair(0, 0));

  state[{0, 0}] = OpState::Done;
  state[{0, 1}] = OpState::Done;
  EXPECT_TRUE(watch.advance(query).moved);
  EXPECT_EQ(watch.completed(0), 2u); // stuck at the wait for G1
  EXPECT_EQ(watch.completed(1), 1u); // its wait for K1 is done
  // compute waits for G1: the group holds the step up.
  EXPECT_EQ(watch.blocker(), std::make_pair(1, 1));

  state[{1, 1}] = OpState::Done;
  EXPECT_TRUE(watch.advance(query).moved);
  EXPECT_EQ(watch.completed(0), 4u - 1); // K3 still running
  EXPECT_EQ(watch.blocker(), std::make_pair(0, 3));
  EXPECT_FALSE(watch.finished());
  state[{0, 3}] = OpState::Done;
  watch.advance(query);
  EXPECT_TRUE(watch.finished());
  EXPECT_EQ(watch.blocker(), std::make_pair(-1, -1));
}

TEST(CudaProgressWatch, WaitForAnEventOfAnEarlierStepIsComplete) {
  ProgressWatch watch;
  watch.reset(2);
  watch.add(1, waitFor(-1, -1));
  EXPECT_EQ(watch.last(0), -1);
  EXPECT_TRUE(watch.advance([](int, int) { return OpState::Pending; }).moved);
  EXPECT_TRUE(watch.finished());
}

TEST(CudaProgressWatch, AFailedQueryNamesTheOp) {
  ProgressWatch watch;
  watch.reset(1);
  watch.add(0, {});
  watch.add(0, {});
  ProgressWatch::Advance advance = watch.advance(
      [](int, int op) { return op == 0 ? OpState::Done : OpState::Failed; });
  EXPECT_EQ(advance.failedStream, 0);
  EXPECT_EQ(advance.failedOp, 1);
}

//===----------------------------------------------------------------------===//
// Overlap in traces
//===----------------------------------------------------------------------===//

TEST(CudaTraceStats, UnionAndIntersection) {
  std::vector<Interval> u =
      unionOf({{5, 7}, {0, 2}, {1, 3}, {3, 4}, {8, 8}, {10, 9}});
  EXPECT_EQ(u, (std::vector<Interval>{{0, 4}, {5, 7}}));
  EXPECT_EQ(intersectionLength({{0, 4}, {5, 7}}, {{1, 6}}), 3 + 1);
  EXPECT_EQ(intersectionLength({{0, 10}}, {{1, 2}, {3, 4}, {9, 12}}), 3);
  EXPECT_EQ(intersectionLength({}, {{0, 1}}), 0);
}

Slice slice(SliceKind kind, int64_t begin, int64_t end) {
  Slice s;
  s.kind = kind;
  s.beginNs = begin;
  s.endNs = end;
  return s;
}

TEST(CudaTraceStats, HiddenFractionOfTransfers) {
  // compute: kernels [0,100) and [150,250)
  // comm: send [80,120) (20 hidden), recv [110,160) (10 hidden),
  //       send [300,310) (none)
  // transfer union: [80,160) + [300,310) = 90; hidden: [80,100) +
  // [150,160) = 30.
  std::vector<Slice> compute = {slice(SliceKind::Kernel, 0, 100),
                                slice(SliceKind::Kernel, 150, 250)};
  std::vector<Slice> comm = {
      slice(SliceKind::Send, 80, 120), slice(SliceKind::Recv, 110, 160),
      slice(SliceKind::Send, 300, 310), slice(SliceKind::Step, 0, 400)};
  OverlapSummary summary = transferOverlap({&compute, &comm});
  EXPECT_EQ(summary.transferNs, 90);
  EXPECT_EQ(summary.hiddenNs, 30);
  EXPECT_EQ(summary.kernelNs, 200);
  EXPECT_DOUBLE_EQ(summary.hiddenFraction(), 30.0 / 90.0);
  OverlapSummary none = transferOverlap({&compute});
  EXPECT_EQ(none.hiddenFraction(), 0.0);
  none += summary;
  EXPECT_EQ(none.transferNs, 90);
  EXPECT_EQ(none.kernelNs, 400);
}

//===----------------------------------------------------------------------===//
// The in-process control plane and the local transport
//===----------------------------------------------------------------------===//

TEST(CudaLocalControl, AllGatherAcrossThreads) {
  auto group = std::make_shared<LocalGroup>(3);
  std::vector<std::vector<std::string>> results(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      auto control = createLocalControl(group, r, 10.0);
      EXPECT_EQ(control->rank(), r);
      EXPECT_EQ(control->size(), 3);
      EXPECT_TRUE(control->singleProcess());
      // Two rounds in a row: values must not mix.
      EXPECT_FALSE(
          control->allGather("a" + std::to_string(r), results[r], "round one"));
      std::vector<std::string> second;
      EXPECT_FALSE(
          control->allGather("b" + std::to_string(r), second, "round two"));
      EXPECT_EQ(second, (std::vector<std::string>{"b0", "b1", "b2"}));
    });
  for (auto &thread : threads)
    thread.join();
  for (const auto &result : results)
    EXPECT_EQ(result, (std::vector<std::string>{"a0", "a1", "a2"}));
  EXPECT_TRUE(group->rounds.empty()) << "finished rounds are dropped";
}

TEST(CudaLocalControl, AMissingRankIsNamedAfterTheTimeout) {
  auto group = std::make_shared<LocalGroup>(3);
  std::vector<std::optional<FatalReport>> outcome(2);
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < 2; ++r) // rank 2 never comes
    threads.emplace_back([&, r] {
      auto control = createLocalControl(group, r, 0.2);
      std::vector<std::string> all;
      outcome[r] = control->allGather("x", all, "the end of step 4");
    });
  for (auto &thread : threads)
    thread.join();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 5.0);
  // The first rank to time out announces; the other adopts its report.
  ASSERT_TRUE(outcome[0] && outcome[1]);
  EXPECT_EQ(outcome[0]->message, outcome[1]->message);
  EXPECT_EQ(outcome[0]->status, PWRT_ERROR_PEER_LOST);
  EXPECT_EQ(outcome[0]->lostRank, 2);
  EXPECT_NE(outcome[0]->message.find("no progress for 0.2 s while waiting on "
                                     "rank 2 in the end of step 4; presumed "
                                     "lost"),
            std::string::npos)
      << outcome[0]->message;
}

TEST(CudaLocalControl, AnnouncedFatalErrorsReachEveryRank) {
  auto group = std::make_shared<LocalGroup>(2);
  auto zero = createLocalControl(group, 0, 10.0);
  auto one = createLocalControl(group, 1, 10.0);
  EXPECT_FALSE(one->pollFatal());
  FatalReport report{PWRT_ERROR_DEVICE, 0, -1, 1, "rank 0: broken"};
  zero->announceFatal(report);
  ASSERT_TRUE(one->pollFatal());
  EXPECT_EQ(one->pollFatal()->message, "rank 0: broken");
  // A later all-gather ends at once with it.
  std::vector<std::string> all;
  std::optional<FatalReport> ended = one->allGather("", all, "anything");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->message, "rank 0: broken");
  // The first announcement stays.
  one->announceFatal(FatalReport{PWRT_ERROR_DEVICE, 1, -1, 2, "rank 1: x"});
  EXPECT_EQ(zero->pollFatal()->origin, 0);
}

std::shared_ptr<PostedSend> posted(int from, int to, int32_t tag, size_t bytes,
                                   void *ready) {
  auto send = std::make_shared<PostedSend>();
  send->from = from;
  send->to = to;
  send->tag = tag;
  send->bytes = bytes;
  send->ready = ready;
  send->what = fmt::format("send to rank {} tag {}", to, tag);
  return send;
}

TEST(CudaLocalTransport, ExchangeBothWaysInOneGroup) {
  // Ranks 0 and 1 each send to and receive from the other in one group;
  // events are plain tokens here.
  auto group = std::make_shared<LocalGroup>(2);
  int tokens[4] = {};
  void *ready[2] = {&tokens[0], &tokens[1]};
  void *copied[2] = {&tokens[2], &tokens[3]};
  std::vector<void *> waitedFor(2), readyOfReceived(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      LocalTransport transport(group, r, 10.0);
      int peer = 1 - r;
      std::vector<std::shared_ptr<PostedSend>> sends = {
          posted(r, peer, 10 + r, 64, ready[r])};
      transport.post(sends);
      SendOrFatal got = transport.awaitSend(peer, 10 + peer, "recv");
      ASSERT_TRUE(std::holds_alternative<std::shared_ptr<PostedSend>>(got));
      auto send = std::get<std::shared_ptr<PostedSend>>(got);
      EXPECT_EQ(send->from, peer);
      EXPECT_EQ(send->bytes, 64u);
      readyOfReceived[r] = send->ready;
      transport.markTaken(send, copied[r]);
      EXPECT_FALSE(transport.awaitTaken(sends));
      waitedFor[r] = sends[0]->copied;
    });
  for (auto &thread : threads)
    thread.join();
  // Each receiver waited for the sender's ready event; each sender then
  // waits for the receiver's copy.
  EXPECT_EQ(readyOfReceived[0], ready[1]);
  EXPECT_EQ(readyOfReceived[1], ready[0]);
  EXPECT_EQ(waitedFor[0], copied[1]);
  EXPECT_EQ(waitedFor[1], copied[0]);
  EXPECT_TRUE(group->mailbox.empty());
}

TEST(CudaLocalTransport, SendsToSelfAndSameTagsInOrder) {
  auto group = std::make_shared<LocalGroup>(1);
  LocalTransport transport(group, 0, 10.0);
  int a = 0, b = 0;
  auto first = posted(0, 0, 5, 8, &a);
  auto second = posted(0, 0, 5, 16, &b);
  transport.post({first, second});
  SendOrFatal got = transport.awaitSend(0, 5, "recv");
  EXPECT_EQ(std::get<std::shared_ptr<PostedSend>>(got), first);
  got = transport.awaitSend(0, 5, "recv");
  EXPECT_EQ(std::get<std::shared_ptr<PostedSend>>(got), second);
}

TEST(CudaLocalTransport, APeerThatNeverSendsIsLost) {
  auto group = std::make_shared<LocalGroup>(2);
  LocalTransport transport(group, 1, 0.1);
  SendOrFatal got = transport.awaitSend(
      0, 3,
      "recv activation stage 1 mb 0 from rank 0 (64 bytes, tag 3) on "
      "stream 'comm'");
  ASSERT_TRUE(std::holds_alternative<FatalReport>(got));
  const FatalReport &report = std::get<FatalReport>(got);
  EXPECT_EQ(report.status, PWRT_ERROR_PEER_LOST);
  EXPECT_EQ(report.lostRank, 0);
  EXPECT_EQ(report.message,
            "rank 1: no progress for 0.1 s while waiting on rank 0, presumed "
            "lost: recv activation stage 1 mb 0 from rank 0 (64 bytes, tag 3) "
            "on stream 'comm'");
  // Announced: rank 0 sees it.
  EXPECT_EQ(createLocalControl(group, 0, 1.0)->pollFatal()->message,
            report.message);
}

TEST(CudaLocalTransport, AReceiverThatNeverTakesIsLost) {
  auto group = std::make_shared<LocalGroup>(2);
  LocalTransport transport(group, 0, 0.1);
  int token = 0;
  std::vector<std::shared_ptr<PostedSend>> sends = {
      posted(0, 1, 9, 64, &token)};
  transport.post(sends);
  std::optional<FatalReport> report = transport.awaitTaken(sends);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->lostRank, 1);
  EXPECT_EQ(report->message, "rank 0: no progress for 0.1 s while waiting on "
                             "rank 1, presumed lost: send to rank 1 tag 9");
}

TEST(CudaLocalTransport, AFatalErrorElsewhereEndsTheWait) {
  auto group = std::make_shared<LocalGroup>(3);
  LocalTransport transport(group, 1, 30.0);
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    createLocalControl(group, 2, 1.0)
        ->announceFatal(FatalReport{PWRT_ERROR_TIMEOUT, 2, -1, 1,
                                    "rank 2: kernel 'k' is still running"});
  });
  auto start = std::chrono::steady_clock::now();
  SendOrFatal got = transport.awaitSend(0, 1, "recv");
  other.join();
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      10.0);
  ASSERT_TRUE(std::holds_alternative<FatalReport>(got));
  EXPECT_EQ(std::get<FatalReport>(got).origin, 2);
}

} // namespace
