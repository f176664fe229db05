//===- Schedule.h - Pipeline schedules as plain values ----------*- C++ -*-===//
//
// The schedule library: value types for per-rank pipeline schedules, the
// generators that build them, and the analyses that check them. Nothing here
// depends on MLIR; the `sched` dialect converts to and from these values.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_SCHEDULE_H
#define PIPEWEAVE_SCHEDULE_SCHEDULE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pipeweave::schedule {

//===----------------------------------------------------------------------===//
// Actions
//===----------------------------------------------------------------------===//

enum class ActionKind : uint8_t {
  Forward,        // F: forward of one stage for one micro-batch
  BackwardInput,  // I: backward for the input (produces the input gradient)
  BackwardWeight, // W: backward for the weights (needs the matching I)
  Backward,       // B: full backward, I and W together
  OverlapFB,      // one F and one B run together (DualPipe's overlapped pair)
  Send,           // point-to-point send of one tensor to `peer`
  Recv,           // point-to-point receive of one tensor from `peer`
};

/// What a Send/Recv carries: the forward activation or the backward gradient.
enum class Payload : uint8_t { Activation, Gradient };

/// One entry of a rank's ordered action list.
///
/// - F/I/W/B: `stage`, `microbatch`.
/// - OverlapFB: the forward part is (`stage`, `microbatch`), the backward
///   (full B) part is (`stage2`, `microbatch2`).
/// - Send/Recv: `stage` and `microbatch` name the *local* stage (the producer
///   for a send, the consumer for a receive, as in PyTorch's SEND_F/RECV_F),
///   plus `payload`, `peer` rank and `bytes`.
struct Action {
  ActionKind kind = ActionKind::Forward;
  int stage = 0;
  int microbatch = 0;
  int stage2 = -1;
  int microbatch2 = -1;
  Payload payload = Payload::Activation;
  int peer = -1;
  int64_t bytes = 0;

  static Action forward(int stage, int mb);
  static Action backwardInput(int stage, int mb);
  static Action backwardWeight(int stage, int mb);
  static Action backward(int stage, int mb);
  static Action overlap(int fwdStage, int fwdMb, int bwdStage, int bwdMb);
  static Action send(Payload payload, int stage, int mb, int peer,
                     int64_t bytes);
  static Action recv(Payload payload, int stage, int mb, int peer,
                     int64_t bytes);

  bool isCompute() const {
    return kind != ActionKind::Send && kind != ActionKind::Recv;
  }
  bool isComm() const { return !isCompute(); }

  /// PyTorch pipelining's action text: "2F0", "1I3", "0W3", "3B1",
  /// "(0F7;7B3)OVERLAP_F_B", "0SEND_F1", "1RECV_F1", "1SEND_B0", "0RECV_B0".
  std::string str() const;

  friend bool operator==(const Action &, const Action &) = default;
};

//===----------------------------------------------------------------------===//
// Schedules
//===----------------------------------------------------------------------===//

/// A compiled schedule: for every rank, the ordered list of actions it runs.
///
/// Stages form `numDirections` independent chains of equal length:
/// direction d holds stages [d*S/D, (d+1)*S/D) in order, and each direction
/// carries numMicrobatches/D micro-batches, numbered from 0 within the
/// direction (DualPipe has D = 2; everything else D = 1). Which rank runs a
/// stage is implied by where the stage's actions appear.
struct Schedule {
  std::string name; // symbol name of the pipeline, e.g. "train"
  std::string kind; // schedule kind that produced it, e.g. "1f1b"
  int numRanks = 0;
  int numStages = 0;
  int numMicrobatches = 0; // total over all directions
  int numDirections = 1;
  /// Bytes of one activation (gradient) message sent out of each stage;
  /// either empty (unknown: messages carry 0 bytes) or one entry per stage.
  std::vector<int64_t> activationBytes;
  std::vector<int64_t> gradientBytes;
  std::vector<std::vector<Action>> ranks; // ranks[r] = rank r's actions

  int microbatchesPerStage() const { return numMicrobatches / numDirections; }
  int stagesPerDirection() const { return numStages / numDirections; }
  /// The stage feeding `stage` in its direction, or -1 for a first stage.
  int prevStage(int stage) const;
  /// The stage fed by `stage` in its direction, or -1 for a last stage.
  int nextStage(int stage) const;
  /// The rank that runs `stage`, or -1 if no action names it. Scans the
  /// whole schedule: use stageRanks() to ask about many stages.
  int rankOfStage(int stage) const;
  /// rankOfStage() of every stage, in one scan.
  std::vector<int> stageRanks() const;
};

//===----------------------------------------------------------------------===//
// Generators
//===----------------------------------------------------------------------===//

enum class ScheduleKind : uint8_t {
  GPipe,
  OneFOneB,
  Interleaved1F1B,
  ZeroBubbleH1,
  ZeroBubbleV,
  DualPipe,
  DualPipeV,
};

/// Spellings used in specs and on command lines: "gpipe", "1f1b",
/// "interleaved-1f1b", "zb-h1", "zb-v", "dualpipe", "dualpipev".
std::optional<ScheduleKind> parseScheduleKind(std::string_view name);
std::string_view scheduleKindName(ScheduleKind kind);
/// All spellings, comma-separated, for help and error text.
std::string scheduleKindList();

struct ScheduleParams {
  ScheduleKind kind = ScheduleKind::OneFOneB;
  int ranks = 1;
  int microbatches = 1;
  /// Stages per rank; 0 means the kind's default (1, or 2 for the V and
  /// DualPipe shapes).
  int stagesPerRank = 0;
};

/// Stages per rank and directions a kind uses for these params.
int effectiveStagesPerRank(const ScheduleParams &params);
int directionsOf(ScheduleKind kind);

/// Returns a message naming the violated rule (e.g. "schedule '1f1b' needs
/// microbatches >= ranks (got 2 < 4)"), or std::nullopt when the params are
/// valid. The rules are those of the reference implementations (e.g.
/// DualPipe: even ranks, even micro-batches, microbatches >= 2 * ranks).
std::optional<std::string> checkScheduleParams(const ScheduleParams &params);

/// Builds the compute-only schedule. Precondition: checkScheduleParams(params)
/// returned std::nullopt.
Schedule generateSchedule(const ScheduleParams &params);

//===----------------------------------------------------------------------===//
// Analyses
//===----------------------------------------------------------------------===//

/// A problem found in a schedule; `rank`/`index` locate the offending action
/// (index into ranks[rank]); rank == -1 for whole-schedule problems.
struct Problem {
  int rank = -1;
  int index = -1;
  std::string message;
};

/// Structural validity, a superset of PyTorch's `_validate_schedule`:
/// every stage/micro-batch in range; each stage on exactly one rank; per
/// stage, F exactly once per micro-batch, exactly one of B or I per
/// micro-batch, W exactly for the micro-batches that had I; B/I only after
/// the stage's F of that micro-batch; W only after its I; an overlapped pair
/// pairs an F with a B of a different (stage, micro-batch); send/recv peers
/// in range and not the rank itself, and every send matched by exactly one
/// receive (and vice versa). Empty result: valid.
std::vector<Problem> validateSchedule(const Schedule &schedule);

/// Adds a matching send/recv pair for every dependency whose producer and
/// consumer run on different ranks. Activations: F(s,m) -> F(next(s),m).
/// Gradients: B or I(s,m) -> B or I(prev(s),m). Placement: before each
/// compute action, one group (a maximal run of consecutive comm actions)
/// holding the sends that are due followed by the receives the action needs
/// (NCCL-group / batch_isend_irecv style). A send is due in the round its
/// consumer runs in a lock-step run of the compute order (each round, every
/// rank runs its next action if its inputs were produced in earlier rounds):
/// it goes before the sender's first action of that round or later, so both
/// ends of every message sit at the same round boundary and blocking
/// point-to-point semantics cannot deadlock for a causally valid order. For
/// GPipe and 1F1B that is the group right after the producer; sending there
/// always would deadlock DualPipe, whose neighbours feed each other. Sends
/// still pending after a rank's last compute action go after it. Existing
/// comm actions are dropped first. Precondition: validateSchedule() is empty.
Schedule insertCommunication(const Schedule &computeOnly);

/// Result of executing a schedule abstractly.
struct StuckRank {
  int rank = -1;
  int index = -1;      // action the rank waits at
  std::string waitsOn; // e.g. "1B0 on rank 1" or "recv from rank 2 (...)"
  std::string action;  // text of the action waited at, e.g. "2B1"
};
struct DeadlockReport {
  bool deadlocked = false;
  std::vector<StuckRank> stuck; // ascending rank; empty if not deadlocked
  int numRanks = 0;             // ranks in the checked schedule
  /// "deadlock: N of R ranks cannot proceed" then one line per stuck rank,
  /// "  rank 2 waits at action 5 (2B1): <waitsOn>"; lines joined by '\n',
  /// no trailing newline. "no deadlock" when not deadlocked.
  std::string str() const;
};

/// Executes the schedule abstractly until every rank is done or no rank can
/// move. Without comm actions, a compute action waits for its producers on
/// other ranks (dataflow). With comm actions, consecutive comm actions form
/// a group: all its operations are posted when the rank reaches it, each
/// completes once its peer has posted the matching operation, and the rank
/// moves on when all have completed; a compute action's cross-rank inputs
/// must have been received earlier on its rank.
DeadlockReport checkDeadlock(const Schedule &schedule);

//===----------------------------------------------------------------------===//
// PyTorch pipelining CSV
//===----------------------------------------------------------------------===//

/// One line per rank, rank 0 first, cells comma-separated in execution order,
/// comm actions omitted (PyTorch's compute_only form); each line ends in '\n'.
std::string formatTorchCsv(const Schedule &schedule);

/// Parse result: either a schedule or an error at 1-based line:column.
struct CsvError {
  int line = 0;
  int column = 0;
  std::string message;
};
struct CsvParseResult {
  std::optional<Schedule> schedule;
  std::optional<CsvError> error;
};

/// Parses PyTorch action CSV (compute actions, and SEND_F/RECV_F/SEND_B/
/// RECV_B cells whose peer is derived from the stage placement). Ranks =
/// number of lines up to the last non-empty one (an empty line or cell is a
/// rank without actions or a bubble, as PyTorch writes them); stages =
/// highest stage + 1; micro-batches = (highest micro-batch + 1) * directions.
/// Bytes stay 0. Errors not tied to a place in the text have line 0.
CsvParseResult parseTorchCsv(std::string_view text, int numDirections = 1);

} // namespace pipeweave::schedule

#endif // PIPEWEAVE_SCHEDULE_SCHEDULE_H
