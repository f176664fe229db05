//===- Analysis.cpp - Streams, overlap, attribution, calibration ----------===//

#include "passes/Profile/Analysis.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

namespace pipeweave::profile {

//===----------------------------------------------------------------------===//
// Interval arithmetic
//===----------------------------------------------------------------------===//

std::vector<Interval> unionOf(std::vector<Interval> intervals) {
  std::sort(
      intervals.begin(), intervals.end(),
      [](const Interval &a, const Interval &b) { return a.start < b.start; });
  std::vector<Interval> merged;
  for (const Interval &interval : intervals) {
    if (interval.end <= interval.start)
      continue;
    if (!merged.empty() && interval.start <= merged.back().end)
      merged.back().end = std::max(merged.back().end, interval.end);
    else
      merged.push_back(interval);
  }
  return merged;
}

Nanoseconds totalLength(const std::vector<Interval> &disjoint) {
  Nanoseconds total = 0;
  for (const Interval &interval : disjoint)
    total += interval.end - interval.start;
  return total;
}

std::vector<Interval> intersectionOf(const std::vector<Interval> &a,
                                     const std::vector<Interval> &b) {
  std::vector<Interval> result;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    Nanoseconds start = std::max(a[i].start, b[j].start);
    Nanoseconds end = std::min(a[i].end, b[j].end);
    if (start < end)
      result.push_back({start, end});
    // Advance whichever ends first; it cannot meet anything further on.
    if (a[i].end < b[j].end)
      ++i;
    else
      ++j;
  }
  return result;
}

const char *costFieldName(CostField field) {
  switch (field) {
  case CostField::Forward:
    return "forward";
  case CostField::BackwardInput:
    return "backward_input";
  case CostField::BackwardWeight:
    return "backward_weight";
  case CostField::Backward:
    return "backward";
  }
  return "?";
}

WorkClass Profile::classOf(const Trace &trace, uint32_t event) const {
  const CompleteEvent &op = trace.events[event];
  if (classifyBy == ClassifyBy::Stream) {
    int32_t stream = streamOfTrack[op.track];
    if (stream >= 0)
      return streams[stream].workClass;
  }
  return communicationName[op.name] ? WorkClass::Communication
                                    : WorkClass::Compute;
}

//===----------------------------------------------------------------------===//
// Streams
//===----------------------------------------------------------------------===//

/// pipeweave's runtime names each rank's process "rank R".
static bool isRuntimeProcess(const Process &process) {
  std::string_view name = process.name;
  if (name.substr(0, 5) != "rank " || name.size() == 5)
    return false;
  return name.find_first_not_of("0123456789", 5) == std::string_view::npos;
}

/// A track that is a stream even when it ran nothing: PyTorch's "stream 7 "
/// tracks and a runtime rank's streams (all its threads but "steps").
static bool isNamedStream(const Trace &trace, const Track &track) {
  if (isRuntimeProcess(trace.processes[track.process]))
    return !track.name.empty() && track.name != "steps";
  return std::string_view(track.name).substr(0, 6) == "stream";
}

static void collectStreams(const Trace &trace, Profile &profile) {
  profile.streamOfTrack.assign(trace.tracks.size(), -1);
  std::vector<uint32_t> streamTracks;
  auto ensure = [&](uint32_t track) {
    if (profile.streamOfTrack[track] < 0) {
      profile.streamOfTrack[track] = 0; // placeholder until sorted
      streamTracks.push_back(track);
    }
  };
  for (const CompleteEvent &event : trace.events)
    if (isStreamOp(event.kind))
      ensure(event.track);
  for (uint32_t track = 0; track < trace.tracks.size(); ++track)
    if (isNamedStream(trace, trace.tracks[track]))
      ensure(track);

  std::sort(streamTracks.begin(), streamTracks.end(),
            [&](uint32_t a, uint32_t b) {
              const TraceId &pidA = trace.pid(a), &pidB = trace.pid(b);
              if (!(pidA == pidB))
                return lessTraceId(pidA, pidB);
              if (!(trace.tid(a) == trace.tid(b)))
                return lessTraceId(trace.tid(a), trace.tid(b));
              return a < b;
            });
  profile.streams.resize(streamTracks.size());
  for (size_t i = 0; i < streamTracks.size(); ++i) {
    profile.streams[i].track = streamTracks[i];
    profile.streamOfTrack[streamTracks[i]] = static_cast<int32_t>(i);
  }

  for (uint32_t index = 0; index < trace.events.size(); ++index) {
    const CompleteEvent &event = trace.events[index];
    if (!isStreamOp(event.kind))
      continue;
    StreamStats &stream = profile.streams[profile.streamOfTrack[event.track]];
    stream.ops.push_back(index);
    switch (event.kind) {
    case EventKind::Kernel:
      ++stream.kernels;
      break;
    case EventKind::Memcpy:
      ++stream.memcpys;
      break;
    case EventKind::Memset:
      ++stream.memsets;
      break;
    default:
      ++stream.runtimeOps;
      break;
    }
    stream.summed += event.duration;
    if (profile.communicationName[event.name]) {
      ++stream.communicationOps;
      stream.communicationSummed += event.duration;
    }
  }

  for (StreamStats &stream : profile.streams) {
    stream.kind =
        isRuntimeProcess(trace.processes[trace.tracks[stream.track].process])
            ? StreamKind::Runtime
            : StreamKind::Gpu;
    // File order is mostly time order already; stable keeps it for ties.
    std::stable_sort(stream.ops.begin(), stream.ops.end(),
                     [&](uint32_t a, uint32_t b) {
                       return trace.events[a].start < trace.events[b].start;
                     });
    std::vector<Interval> intervals;
    intervals.reserve(stream.ops.size());
    Nanoseconds end = INT64_MIN; // timestamps may be negative
    for (uint32_t index : stream.ops) {
      const CompleteEvent &op = trace.events[index];
      intervals.push_back({op.start, op.end()});
      end = std::max(end, op.end());
    }
    if (!stream.ops.empty()) {
      stream.start = trace.events[stream.ops.front()].start;
      stream.end = end;
    }
    stream.busyIntervals = unionOf(std::move(intervals));
    stream.busy = totalLength(stream.busyIntervals);

    bool communication = stream.summed > 0
                             ? 2 * stream.communicationSummed > stream.summed
                             : 2 * stream.communicationOps > stream.opCount();
    stream.workClass =
        communication ? WorkClass::Communication : WorkClass::Compute;
  }
}

//===----------------------------------------------------------------------===//
// Overlap
//===----------------------------------------------------------------------===//

static void computeOverlap(const Trace &trace, Profile &profile) {
  // Streams are sorted by pid, so each device's streams are contiguous.
  size_t first = 0;
  while (first < profile.streams.size()) {
    uint32_t process = trace.tracks[profile.streams[first].track].process;
    size_t last = first;
    std::vector<Interval> communication, compute;
    for (; last < profile.streams.size() &&
           trace.tracks[profile.streams[last].track].process == process;
         ++last) {
      const StreamStats &stream = profile.streams[last];
      if (profile.classifyBy == ClassifyBy::Stream) {
        auto &target = stream.workClass == WorkClass::Communication
                           ? communication
                           : compute;
        target.insert(target.end(), stream.busyIntervals.begin(),
                      stream.busyIntervals.end());
        continue;
      }
      for (uint32_t index : stream.ops) {
        const CompleteEvent &op = trace.events[index];
        (profile.communicationName[op.name] ? communication : compute)
            .push_back({op.start, op.end()});
      }
    }
    std::vector<Interval> communicationBusy = unionOf(std::move(communication));
    std::vector<Interval> computeBusy = unionOf(std::move(compute));
    OverlapStats device;
    device.process = process;
    device.communication = totalLength(communicationBusy);
    device.compute = totalLength(computeBusy);
    device.intersection =
        totalLength(intersectionOf(communicationBusy, computeBusy));
    profile.overlap.devices.push_back(device);
    profile.overlap.total.communication += device.communication;
    profile.overlap.total.compute += device.compute;
    profile.overlap.total.intersection += device.intersection;
    first = last;
  }
}

//===----------------------------------------------------------------------===//
// Flows
//===----------------------------------------------------------------------===//

namespace {
struct FlowEnds {
  std::vector<uint32_t> starts, finishes; // indices into Trace::flows
  bool step = false;
};

/// Flows grouped by (category, id), in order of first appearance.
using FlowGroups = std::vector<FlowEnds>;

struct FlowKeyHash {
  size_t operator()(const std::pair<uint32_t, std::string_view> &key) const {
    return std::hash<std::string_view>{}(key.second) * 31 + key.first;
  }
};
} // namespace

static FlowGroups groupFlows(const Trace &trace) {
  FlowGroups groups;
  std::unordered_map<std::pair<uint32_t, std::string_view>, size_t, FlowKeyHash>
      indexOf;
  indexOf.reserve(trace.flows.size());
  for (uint32_t i = 0; i < trace.flows.size(); ++i) {
    const FlowEvent &flow = trace.flows[i];
    auto [it, inserted] =
        indexOf.try_emplace({flow.category, flow.id}, groups.size());
    if (inserted)
      groups.emplace_back();
    FlowEnds &ends = groups[it->second];
    if (flow.phase == FlowPhase::Start)
      ends.starts.push_back(i);
    else if (flow.phase == FlowPhase::Finish)
      ends.finishes.push_back(i);
    else
      ends.step = true;
  }
  return groups;
}

static FlowSummary summariseFlows(const FlowGroups &groups) {
  FlowSummary summary;
  for (const FlowEnds &ends : groups) {
    ++summary.ids;
    bool start = !ends.starts.empty(), finish = !ends.finishes.empty();
    if (start && finish)
      ++summary.paired;
    else if (start)
      ++summary.startsWithoutFinish;
    else if (finish)
      ++summary.finishesWithoutStart;
    else
      ++summary.stepsOnly;
  }
  return summary;
}

//===----------------------------------------------------------------------===//
// Attribution
//===----------------------------------------------------------------------===//

namespace {
/// Events of some kinds on each track, sorted by start, for "which event
/// encloses time t" queries.
class TrackIndex {
public:
  TrackIndex(const Trace &trace, bool (*select)(EventKind))
      : trace(trace), byTrack(trace.tracks.size()) {
    for (uint32_t i = 0; i < trace.events.size(); ++i)
      if (select(trace.events[i].kind))
        byTrack[trace.events[i].track].push_back(i);
    for (auto &events : byTrack)
      std::stable_sort(events.begin(), events.end(),
                       [&](uint32_t a, uint32_t b) {
                         return trace.events[a].start < trace.events[b].start;
                       });
  }

  /// The event on `track` with the latest start <= t that still runs at t.
  std::optional<uint32_t> enclosing(uint32_t track, Nanoseconds t) const {
    const std::vector<uint32_t> &events = byTrack[track];
    auto it = std::upper_bound(events.begin(), events.end(), t,
                               [&](Nanoseconds time, uint32_t event) {
                                 return time < trace.events[event].start;
                               });
    while (it != events.begin()) {
      --it;
      if (trace.events[*it].end() >= t)
        return *it;
    }
    return std::nullopt;
  }

private:
  const Trace &trace;
  std::vector<std::vector<uint32_t>> byTrack;
};
} // namespace

/// For each GPU op: the launch call event, or Attribution::kNone.
static std::vector<uint32_t> findLaunches(const Trace &trace,
                                          const FlowGroups &flows,
                                          int64_t &linkedByFlow) {
  std::vector<uint32_t> launchOf(trace.events.size(), Attribution::kNone);
  std::unordered_map<int64_t, uint32_t> callByCorrelation;
  for (uint32_t i = 0; i < trace.events.size(); ++i) {
    const CompleteEvent &event = trace.events[i];
    if (event.kind == EventKind::LaunchCall && event.hasCorrelation)
      callByCorrelation.emplace(event.correlation, i); // first one wins
  }
  bool missing = false;
  for (uint32_t i = 0; i < trace.events.size(); ++i) {
    const CompleteEvent &event = trace.events[i];
    if (!isGpuOp(event.kind))
      continue;
    if (event.hasCorrelation) {
      auto it = callByCorrelation.find(event.correlation);
      if (it != callByCorrelation.end()) {
        launchOf[i] = it->second;
        continue;
      }
    }
    missing = true;
  }
  if (!missing)
    return launchOf;

  // Fallback: a flow from inside a launch call to inside a GPU op.
  TrackIndex calls(
      trace, [](EventKind kind) { return kind == EventKind::LaunchCall; });
  TrackIndex ops(trace, isGpuOp);
  for (const FlowEnds &ends : flows) {
    if (ends.starts.empty() || ends.finishes.empty())
      continue;
    const FlowEvent &start = trace.flows[ends.starts.front()];
    std::optional<uint32_t> call = calls.enclosing(start.track, start.time);
    if (!call)
      continue;
    for (uint32_t finishIndex : ends.finishes) {
      const FlowEvent &finish = trace.flows[finishIndex];
      std::optional<uint32_t> op = ops.enclosing(finish.track, finish.time);
      if (op && launchOf[*op] == Attribution::kNone) {
        launchOf[*op] = *call;
        ++linkedByFlow;
      }
    }
  }
  return launchOf;
}

/// Per event: for the launch calls in `calls`, the innermost annotation on
/// its track that encloses it; Attribution::kNone otherwise.
static std::vector<uint32_t> innermostAnnotations(const Trace &trace,
                                                  std::vector<uint32_t> calls) {
  std::vector<std::vector<uint32_t>> annotations(trace.tracks.size());
  for (uint32_t i = 0; i < trace.events.size(); ++i)
    if (trace.events[i].kind == EventKind::Annotation)
      annotations[trace.events[i].track].push_back(i);
  // Outer before inner: by start, then longer first, then file order.
  auto outerFirst = [&](uint32_t a, uint32_t b) {
    const CompleteEvent &x = trace.events[a], &y = trace.events[b];
    if (x.start != y.start)
      return x.start < y.start;
    if (x.duration != y.duration)
      return x.duration > y.duration;
    return a < b;
  };
  for (auto &list : annotations)
    std::sort(list.begin(), list.end(), outerFirst);
  std::sort(calls.begin(), calls.end(), [&](uint32_t a, uint32_t b) {
    const CompleteEvent &x = trace.events[a], &y = trace.events[b];
    return x.track != y.track ? x.track < y.track : x.start < y.start;
  });

  // Sweep each track in time order with a stack of the annotations begun so
  // far; the top is the latest begun, so the first enclosing one from the
  // top is the innermost.
  std::vector<uint32_t> result(trace.events.size(), Attribution::kNone);
  size_t next = 0;
  std::vector<uint32_t> stack;
  uint32_t currentTrack = UINT32_MAX;
  for (uint32_t call : calls) {
    const CompleteEvent &launch = trace.events[call];
    if (launch.track != currentTrack) {
      currentTrack = launch.track;
      next = 0;
      stack.clear();
    }
    const std::vector<uint32_t> &list = annotations[currentTrack];
    while (next < list.size() && trace.events[list[next]].start <= launch.start)
      stack.push_back(list[next++]);
    // Ended before this call starts: no later call can be inside either.
    while (!stack.empty() && trace.events[stack.back()].end() < launch.start)
      stack.pop_back();
    uint32_t found = Attribution::kNone;
    for (size_t i = stack.size(); i-- > 0;) {
      if (trace.events[stack[i]].end() >= launch.end()) {
        found = stack[i];
        break;
      }
    }
    result[call] = found;
  }
  return result;
}

static void attribute(const Trace &trace, const FlowGroups &flows,
                      Profile &profile) {
  Attribution &attribution = profile.attribution;
  std::vector<uint32_t> launchOf =
      findLaunches(trace, flows, attribution.linkedByFlow);
  std::vector<uint32_t> calls;
  for (uint32_t call : launchOf)
    if (call != Attribution::kNone)
      calls.push_back(call);
  std::sort(calls.begin(), calls.end());
  calls.erase(std::unique(calls.begin(), calls.end()), calls.end());
  std::vector<uint32_t> annotationOfCall =
      innermostAnnotations(trace, std::move(calls));

  attribution.annotationOf.assign(trace.events.size(), Attribution::kNone);
  // (annotation name or kNone, stream index) -> row
  std::map<std::pair<uint32_t, int32_t>, AttributionRow> rows;
  for (uint32_t i = 0; i < trace.events.size(); ++i) {
    const CompleteEvent &op = trace.events[i];
    if (!isGpuOp(op.kind) ||
        profile.streams[profile.streamOfTrack[op.track]].kind !=
            StreamKind::Gpu)
      continue;
    uint32_t annotation = Attribution::kNone;
    if (launchOf[i] == Attribution::kNone) {
      ++attribution.withoutLaunch;
    } else {
      annotation = annotationOfCall[launchOf[i]];
      if (annotation == Attribution::kNone)
        ++attribution.withoutAnnotation;
      else
        ++attribution.attributed;
    }
    attribution.annotationOf[i] = annotation;
    uint32_t name = annotation == Attribution::kNone
                        ? Attribution::kNone
                        : trace.events[annotation].name;
    AttributionRow &row = rows[{name, profile.streamOfTrack[op.track]}];
    if (name != Attribution::kNone)
      row.annotation = name;
    row.track = op.track;
    ++row.ops;
    row.gpuTime += op.duration;
  }

  std::unordered_map<uint32_t, Nanoseconds> totalByName;
  for (const auto &[key, row] : rows)
    totalByName[key.first] += row.gpuTime;
  std::vector<std::pair<std::pair<uint32_t, int32_t>, AttributionRow>> sorted(
      rows.begin(), rows.end());
  std::stable_sort(
      sorted.begin(), sorted.end(), [&](const auto &a, const auto &b) {
        uint32_t nameA = a.first.first, nameB = b.first.first;
        if (nameA != nameB) {
          if ((nameA == Attribution::kNone) != (nameB == Attribution::kNone))
            return nameB == Attribution::kNone;
          if (totalByName[nameA] != totalByName[nameB])
            return totalByName[nameA] > totalByName[nameB];
          return trace.strings[nameA] < trace.strings[nameB];
        }
        return a.first.second < b.first.second;
      });
  for (auto &[key, row] : sorted)
    attribution.rows.push_back(row);
}

//===----------------------------------------------------------------------===//
// Calibration
//===----------------------------------------------------------------------===//

static void calibrate(const Trace &trace, const AnalysisOptions &options,
                      Profile &profile) {
  if (!options.costFieldOf)
    return;
  // Annotation names in order of first appearance, with their field.
  std::unordered_map<uint32_t, size_t> componentOfName;
  std::vector<CostComponent> components;
  std::vector<bool> decided(trace.strings.size(), false);
  for (const CompleteEvent &event : trace.events) {
    if (event.kind != EventKind::Annotation)
      continue;
    if (!decided[event.name]) {
      decided[event.name] = true;
      if (std::optional<CostField> field =
              options.costFieldOf(trace.strings[event.name])) {
        componentOfName[event.name] = components.size();
        components.push_back({event.name, *field, 0, 0, 0});
      }
    }
    auto it = componentOfName.find(event.name);
    if (it != componentOfName.end())
      ++components[it->second].instances;
  }
  const Attribution &attribution = profile.attribution;
  for (uint32_t i = 0; i < trace.events.size(); ++i) {
    uint32_t annotation = attribution.annotationOf[i];
    if (annotation == Attribution::kNone ||
        profile.communicationName[trace.events[i].name])
      continue;
    auto it = componentOfName.find(trace.events[annotation].name);
    if (it == componentOfName.end())
      continue;
    ++components[it->second].ops;
    components[it->second].computeTime += trace.events[i].duration;
  }
  std::stable_sort(components.begin(), components.end(),
                   [](const CostComponent &a, const CostComponent &b) {
                     return a.field < b.field;
                   });
  for (const CostComponent &component : components) {
    std::optional<double> &field =
        profile.calibration.fields[static_cast<int>(component.field)];
    field = field.value_or(0.0) + component.mean();
  }
  profile.calibration.components = std::move(components);
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

Profile analyseTrace(const Trace &trace, const AnalysisOptions &options) {
  Profile profile;
  profile.classifyBy = options.classifyBy;
  profile.communicationName.assign(trace.strings.size(), false);
  if (options.isCommunication) {
    // Only names of stream ops matter; each distinct name is matched once.
    std::vector<bool> checked(trace.strings.size(), false);
    for (const CompleteEvent &event : trace.events) {
      if (!isStreamOp(event.kind) || checked[event.name])
        continue;
      checked[event.name] = true;
      profile.communicationName[event.name] =
          options.isCommunication(trace.strings[event.name]);
    }
  }
  collectStreams(trace, profile);
  computeOverlap(trace, profile);
  auto flows = groupFlows(trace);
  profile.flows = summariseFlows(flows);
  attribute(trace, flows, profile);
  calibrate(trace, options, profile);
  return profile;
}

} // namespace pipeweave::profile
