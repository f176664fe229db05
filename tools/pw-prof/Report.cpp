//===- Report.cpp - pw-prof output formats --------------------------------===//

#include "Report.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Regex.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace pipeweave;
using namespace pipeweave::profile;

namespace pipeweave::prof {

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

namespace {
struct KindCounts {
  int64_t kernels = 0, memcpys = 0, memsets = 0, runtimeOps = 0,
          launchCalls = 0, cpuOps = 0, annotations = 0, gpuAnnotations = 0,
          other = 0;
};
} // namespace

static KindCounts countKinds(const Trace &trace) {
  KindCounts counts;
  for (const CompleteEvent &event : trace.events) {
    switch (event.kind) {
    case EventKind::Kernel:
      ++counts.kernels;
      break;
    case EventKind::Memcpy:
      ++counts.memcpys;
      break;
    case EventKind::Memset:
      ++counts.memsets;
      break;
    case EventKind::RuntimeOp:
      ++counts.runtimeOps;
      break;
    case EventKind::LaunchCall:
      ++counts.launchCalls;
      break;
    case EventKind::CpuOp:
      ++counts.cpuOps;
      break;
    case EventKind::Annotation:
      ++counts.annotations;
      break;
    case EventKind::GpuAnnotation:
      ++counts.gpuAnnotations;
      break;
    // Step slices only frame the pipeline view; the summary counts them
    // with the other complete events.
    case EventKind::Step:
    case EventKind::Other:
      ++counts.other;
      break;
    }
  }
  return counts;
}

/// thread_name metadata without PyTorch's trailing blank ("stream 7 ").
static std::string trackName(const Trace &trace, uint32_t track) {
  return llvm::StringRef(trace.tracks[track].name).trim().str();
}

/// A pid or tid for the table: an empty one (missing in the file) as "".
static std::string idText(const TraceId &id) {
  return id.text.empty() ? "\"\"" : id.text;
}

static const char *className(WorkClass workClass) {
  return workClass == WorkClass::Communication ? "communication" : "compute";
}

static std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f%%", 100.0 * fraction);
  return text;
}

static double unitScale(CostUnit unit) {
  switch (unit) {
  case CostUnit::Microseconds:
    return 1e-3;
  case CostUnit::Milliseconds:
    return 1e-6;
  case CostUnit::Seconds:
    return 1e-9;
  }
  return 1e-3;
}

static const char *unitName(CostUnit unit) {
  switch (unit) {
  case CostUnit::Microseconds:
    return "us";
  case CostUnit::Milliseconds:
    return "ms";
  case CostUnit::Seconds:
    return "s";
  }
  return "us";
}

/// A float as the pipe dialect parses it: 7 significant digits and always
/// a '.', so that the literal is a float ("5e+10" -> "5.0e+10").
static std::string pipeFloat(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.7g", value);
  std::string text = buffer;
  if (text.find_first_of(".ni") == std::string::npos) {
    size_t exponent = text.find('e');
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  return text;
}

/// A mean in microseconds with three decimals (sub-ns digits are noise).
static std::string meanMicroseconds(double nanoseconds) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.3f", nanoseconds / 1000.0);
  return buffer;
}

//===----------------------------------------------------------------------===//
// Table
//===----------------------------------------------------------------------===//

namespace {
/// Left-aligned columns separated by two blanks.
class Table {
public:
  explicit Table(std::vector<std::string> header) {
    rows.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows.push_back(std::move(row)); }
  void print(llvm::raw_ostream &os) const {
    std::vector<size_t> widths;
    for (const auto &row : rows)
      for (size_t i = 0; i < row.size(); ++i) {
        widths.resize(std::max(widths.size(), row.size()));
        widths[i] = std::max(widths[i], row[i].size());
      }
    for (const auto &row : rows) {
      std::string line = " ";
      for (size_t i = 0; i < row.size(); ++i) {
        line += " " + row[i];
        if (i + 1 < row.size())
          line += std::string(widths[i] - row[i].size() + 1, ' ');
      }
      os << line << "\n";
    }
  }

private:
  std::vector<std::vector<std::string>> rows;
};
} // namespace

void writeTable(const ReportInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const Profile &profile = input.profile;
  const TraceCounts &counts = trace.counts;
  KindCounts kinds = countKinds(trace);

  os << "trace: " << input.file
     << (trace.bareArray ? " (bare event array)\n"
                         : " (object with traceEvents)\n");
  os << "events: " << counts.events << " (" << counts.complete << " complete, "
     << counts.metadata << " metadata, " << counts.flow << " flow, "
     << counts.instant << " instant, " << counts.otherPhase << " other)\n";
  os << "complete: " << kinds.kernels << " kernels, " << kinds.memcpys
     << " memcpy, " << kinds.memsets << " memset, " << kinds.runtimeOps
     << " runtime ops, " << kinds.launchCalls << " launch calls, "
     << kinds.cpuOps << " CPU ops, " << kinds.annotations << " annotations, "
     << kinds.gpuAnnotations << " GPU annotations, " << kinds.other
     << " other\n";
  if (counts.skippedComplete || counts.skippedFlow)
    os << "skipped: " << counts.skippedComplete
       << " complete events without ts or dur (or with dur < 0), "
       << counts.skippedFlow << " flow events without ts or id\n";
  const FlowSummary &flows = profile.flows;
  os << "flows: " << flows.ids << " ids: " << flows.paired << " paired, "
     << flows.startsWithoutFinish << " starts without a finish, "
     << flows.finishesWithoutStart << " finishes without a start";
  if (flows.stepsOnly)
    os << ", " << flows.stepsOnly << " with steps only";
  os << "\n";

  os << "\nstreams (us; busy = union of op intervals)\n";
  Table streams({"pid", "tid", "name", "kind", "class", "ops", "kernels",
                 "memcpy", "memset", "runtime", "start", "span", "busy",
                 "busy%"});
  for (const StreamStats &stream : profile.streams) {
    streams.add(
        {idText(trace.pid(stream.track)), idText(trace.tid(stream.track)),
         trackName(trace, stream.track),
         stream.kind == StreamKind::Runtime ? "runtime" : "gpu",
         className(stream.workClass), std::to_string(stream.opCount()),
         std::to_string(stream.kernels), std::to_string(stream.memcpys),
         std::to_string(stream.memsets), std::to_string(stream.runtimeOps),
         stream.ops.empty() ? "-" : formatMicroseconds(stream.start),
         formatMicroseconds(stream.span()), formatMicroseconds(stream.busy),
         stream.span() > 0 ? percent(static_cast<double>(stream.busy) /
                                     static_cast<double>(stream.span()))
                           : "-"});
  }
  if (profile.streams.empty())
    os << "  (no GPU or runtime streams)\n";
  else
    streams.print(os);

  os << "\noverlap per device (us; classified by "
     << (profile.classifyBy == ClassifyBy::Stream ? "stream" : "kernel")
     << "; communication ops match /" << input.communicationPattern << "/)\n";
  Table overlap(
      {"pid", "communication", "compute", "both", "exposed", "hidden"});
  auto addOverlap = [&](std::string pid, const OverlapStats &stats) {
    std::optional<double> hidden = stats.hiddenFraction();
    overlap.add({std::move(pid), formatMicroseconds(stats.communication),
                 formatMicroseconds(stats.compute),
                 formatMicroseconds(stats.intersection),
                 formatMicroseconds(stats.communication - stats.intersection),
                 hidden ? percent(*hidden) : "-"});
  };
  for (const OverlapStats &device : profile.overlap.devices)
    addOverlap(idText(trace.processes[device.process].pid), device);
  if (profile.overlap.devices.size() > 1)
    addOverlap("all", profile.overlap.total);
  if (profile.overlap.devices.empty())
    os << "  (no streams)\n";
  else
    overlap.print(os);

  const Attribution &attribution = profile.attribution;
  os << "\nattribution (us; GPU time per innermost annotation on the "
        "launching thread)\n";
  Table rows({"annotation", "pid", "tid", "ops", "gpu time"});
  for (const AttributionRow &row : attribution.rows)
    rows.add(
        {row.annotation ? trace.strings[*row.annotation] : "(unattributed)",
         idText(trace.pid(row.track)), idText(trace.tid(row.track)),
         std::to_string(row.ops), formatMicroseconds(row.gpuTime)});
  if (attribution.rows.empty())
    os << "  (no GPU ops)\n";
  else
    rows.print(os);
  os << "  "
     << attribution.attributed + attribution.withoutAnnotation +
            attribution.withoutLaunch
     << " GPU ops: " << attribution.attributed << " attributed, "
     << attribution.withoutAnnotation << " launched outside every annotation, "
     << attribution.withoutLaunch << " without a launch call";
  if (attribution.linkedByFlow)
    os << " (" << attribution.linkedByFlow << " linked by flow events)";
  os << "\n";

  const Calibration &calibration = profile.calibration;
  if (!calibration.components.empty()) {
    os << "\ncalibration (us; compute GPU time per annotation instance)\n";
    Table components(
        {"field", "annotation", "instances", "ops", "compute", "mean"});
    for (const CostComponent &component : calibration.components)
      components.add(
          {costFieldName(component.field), trace.strings[component.name],
           std::to_string(component.instances), std::to_string(component.ops),
           formatMicroseconds(component.computeTime),
           meanMicroseconds(component.mean())});
    components.print(os);
    for (int field = 0; field < kNumCostFields; ++field)
      if (calibration.fields[field])
        os << "  " << costFieldName(static_cast<CostField>(field)) << " = "
           << meanMicroseconds(*calibration.fields[field])
           << " (sum of its means)\n";
  }
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

static void writeId(llvm::json::OStream &json, const TraceId &id) {
  if (id.isNumber)
    json.rawValue(id.text); // the file's own number text, already valid
  else
    json.value(id.text);
}

/// Exact microseconds as a JSON number.
static void attributeTime(llvm::json::OStream &json, llvm::StringRef key,
                          Nanoseconds time) {
  json.attributeBegin(key);
  json.rawValue(formatMicroseconds(time));
  json.attributeEnd();
}

void writeJson(const ReportInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const Profile &profile = input.profile;
  const TraceCounts &counts = trace.counts;
  KindCounts kinds = countKinds(trace);
  llvm::json::OStream json(os, 2);
  json.object([&] {
    json.attribute("file", input.file);
    json.attribute("layout", trace.bareArray ? "array" : "object");
    json.attributeObject("events", [&] {
      json.attribute("total", counts.events);
      json.attribute("complete", counts.complete);
      json.attribute("skipped_complete", counts.skippedComplete);
      json.attribute("metadata", counts.metadata);
      json.attribute("flow", counts.flow);
      json.attribute("skipped_flow", counts.skippedFlow);
      json.attribute("instant", counts.instant);
      json.attribute("other", counts.otherPhase);
      json.attribute("kernels", kinds.kernels);
      json.attribute("memcpy", kinds.memcpys);
      json.attribute("memset", kinds.memsets);
      json.attribute("runtime_ops", kinds.runtimeOps);
      json.attribute("launch_calls", kinds.launchCalls);
      json.attribute("cpu_ops", kinds.cpuOps);
      json.attribute("annotations", kinds.annotations);
      json.attribute("gpu_annotations", kinds.gpuAnnotations);
      json.attribute("other_complete", kinds.other);
    });
    const FlowSummary &flows = profile.flows;
    json.attributeObject("flows", [&] {
      json.attribute("ids", flows.ids);
      json.attribute("paired", flows.paired);
      json.attribute("starts_without_finish", flows.startsWithoutFinish);
      json.attribute("finishes_without_start", flows.finishesWithoutStart);
      json.attribute("steps_only", flows.stepsOnly);
    });
    json.attributeArray("streams", [&] {
      for (const StreamStats &stream : profile.streams) {
        json.object([&] {
          json.attributeBegin("pid");
          writeId(json, trace.pid(stream.track));
          json.attributeEnd();
          json.attributeBegin("tid");
          writeId(json, trace.tid(stream.track));
          json.attributeEnd();
          json.attribute("name", trackName(trace, stream.track));
          json.attribute("kind", stream.kind == StreamKind::Runtime ? "runtime"
                                                                    : "gpu");
          json.attribute("class", className(stream.workClass));
          json.attribute("ops", stream.opCount());
          json.attribute("kernels", stream.kernels);
          json.attribute("memcpy", stream.memcpys);
          json.attribute("memset", stream.memsets);
          json.attribute("runtime_ops", stream.runtimeOps);
          json.attribute("communication_ops", stream.communicationOps);
          attributeTime(json, "start_us", stream.start);
          attributeTime(json, "end_us", stream.end);
          attributeTime(json, "span_us", stream.span());
          attributeTime(json, "busy_us", stream.busy);
          attributeTime(json, "summed_us", stream.summed);
        });
      }
    });
    auto overlapObject = [&](const OverlapStats &stats) {
      attributeTime(json, "communication_busy_us", stats.communication);
      attributeTime(json, "compute_busy_us", stats.compute);
      attributeTime(json, "intersection_us", stats.intersection);
      attributeTime(json, "exposed_communication_us",
                    stats.communication - stats.intersection);
      if (std::optional<double> hidden = stats.hiddenFraction())
        json.attribute("hidden_fraction", *hidden);
      else
        json.attribute("hidden_fraction", nullptr);
    };
    json.attributeObject("overlap", [&] {
      json.attribute("classify", profile.classifyBy == ClassifyBy::Stream
                                     ? "stream"
                                     : "kernel");
      json.attribute("communication_pattern", input.communicationPattern);
      json.attributeArray("devices", [&] {
        for (const OverlapStats &device : profile.overlap.devices)
          json.object([&] {
            json.attributeBegin("pid");
            writeId(json, trace.processes[device.process].pid);
            json.attributeEnd();
            overlapObject(device);
          });
      });
      json.attributeObject("total",
                           [&] { overlapObject(profile.overlap.total); });
    });
    const Attribution &attribution = profile.attribution;
    json.attributeObject("attribution", [&] {
      json.attributeArray("rows", [&] {
        for (const AttributionRow &row : attribution.rows)
          json.object([&] {
            if (row.annotation)
              json.attribute("annotation", trace.strings[*row.annotation]);
            else
              json.attribute("annotation", nullptr);
            json.attributeBegin("pid");
            writeId(json, trace.pid(row.track));
            json.attributeEnd();
            json.attributeBegin("tid");
            writeId(json, trace.tid(row.track));
            json.attributeEnd();
            json.attribute("ops", row.ops);
            attributeTime(json, "gpu_time_us", row.gpuTime);
          });
      });
      json.attribute("attributed", attribution.attributed);
      json.attribute("without_annotation", attribution.withoutAnnotation);
      json.attribute("without_launch", attribution.withoutLaunch);
      json.attribute("linked_by_flow", attribution.linkedByFlow);
    });
    const Calibration &calibration = profile.calibration;
    json.attributeObject("calibration", [&] {
      json.attributeArray("components", [&] {
        for (const CostComponent &component : calibration.components)
          json.object([&] {
            json.attribute("field", costFieldName(component.field));
            json.attribute("annotation", trace.strings[component.name]);
            json.attribute("instances", component.instances);
            json.attribute("ops", component.ops);
            attributeTime(json, "compute_time_us", component.computeTime);
            json.attribute("mean_us", component.mean() / 1000.0);
          });
      });
      json.attributeObject("fields_us", [&] {
        for (int field = 0; field < kNumCostFields; ++field)
          if (calibration.fields[field])
            json.attribute(costFieldName(static_cast<CostField>(field)),
                           *calibration.fields[field] / 1000.0);
      });
    });
  });
  os << "\n";
}

//===----------------------------------------------------------------------===//
// pipe.cost fragment
//===----------------------------------------------------------------------===//

bool writeCostFragment(const ReportInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const Calibration &calibration = input.profile.calibration;
  if (calibration.components.empty())
    return false;
  double scale = unitScale(input.costUnit) * input.costScale;
  os << "// Measured by pw-prof from " << input.file << ": mean compute GPU "
     << "time per annotation, in " << unitName(input.costUnit);
  if (input.costScale != 1.0)
    os << ", times " << pipeFloat(input.costScale);
  os << ".\n";
  std::string line = "pipe.cost";
  for (int field = 0; field < kNumCostFields; ++field) {
    if (!calibration.fields[field])
      continue;
    CostField costField = static_cast<CostField>(field);
    os << "//   " << costFieldName(costField) << " =";
    bool first = true;
    for (const CostComponent &component : calibration.components) {
      if (component.field != costField)
        continue;
      os << (first ? " " : " + ") << trace.strings[component.name] << " "
         << pipeFloat(component.mean() * scale);
      if (component.ops == 0)
        os << " (no compute op attributed)";
      first = false;
    }
    os << "\n";
    line += std::string(line == "pipe.cost" ? " " : ", ") +
            costFieldName(costField) + " = " +
            pipeFloat(*calibration.fields[field] * scale);
  }
  os << line << "\n";
  return true;
}

//===----------------------------------------------------------------------===//
// SVG timeline
//===----------------------------------------------------------------------===//

static std::string escapeXml(llvm::StringRef text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
    case '&':
      escaped += "&amp;";
      break;
    case '<':
      escaped += "&lt;";
      break;
    case '>':
      escaped += "&gt;";
      break;
    case '"':
      escaped += "&quot;";
      break;
    default:
      escaped += c;
    }
  }
  return escaped;
}

void writeSvg(const ReportInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const Profile &profile = input.profile;
  constexpr double kLabelWidth = 260, kPlotWidth = 1100, kRowHeight = 22,
                   kBarHeight = 14, kTop = 70, kRight = 50;

  // One row per stream, plus one "hidden" row per device showing where
  // communication ran under compute.
  struct Row {
    std::string label;
    std::vector<std::pair<WorkClass, std::vector<Interval>>> bars;
    std::vector<Interval> hidden; // used by device rows
    bool deviceRow = false;
  };
  std::vector<Row> rows;
  Nanoseconds begin = INT64_MAX, end = INT64_MIN;
  size_t first = 0;
  while (first < profile.streams.size()) {
    uint32_t process = trace.tracks[profile.streams[first].track].process;
    std::vector<Interval> deviceIntervals[2];
    for (; first < profile.streams.size() &&
           trace.tracks[profile.streams[first].track].process == process;
         ++first) {
      const StreamStats &stream = profile.streams[first];
      std::vector<Interval> byClass[2];
      for (uint32_t index : stream.ops) {
        const CompleteEvent &op = trace.events[index];
        int cls = static_cast<int>(profile.classOf(trace, index));
        byClass[cls].push_back({op.start, op.end()});
        begin = std::min(begin, op.start);
        end = std::max(end, op.end());
      }
      Row row;
      std::string name = trackName(trace, stream.track);
      row.label =
          "pid " + idText(trace.pid(stream.track)) + "  " +
          (name.empty() ? "tid " + idText(trace.tid(stream.track)) : name) +
          " (" + className(stream.workClass) + ")";
      for (int cls = 0; cls < 2; ++cls) {
        std::vector<Interval> merged = unionOf(std::move(byClass[cls]));
        deviceIntervals[cls].insert(deviceIntervals[cls].end(), merged.begin(),
                                    merged.end());
        row.bars.emplace_back(static_cast<WorkClass>(cls), std::move(merged));
      }
      rows.push_back(std::move(row));
    }
    Row device;
    device.deviceRow = true;
    device.label = "pid " + idText(trace.processes[process].pid) +
                   "  communication under compute";
    device.hidden = intersectionOf(unionOf(std::move(deviceIntervals[0])),
                                   unionOf(std::move(deviceIntervals[1])));
    rows.push_back(std::move(device));
  }
  if (begin >= end) {
    begin = 0;
    end = 1000;
  }
  double duration = static_cast<double>(end - begin);
  auto x = [&](Nanoseconds t) {
    return kLabelWidth + kPlotWidth * static_cast<double>(t - begin) / duration;
  };
  double width = kLabelWidth + kPlotWidth + kRight;
  double height = kTop + kRowHeight * rows.size() + 20;

  os << llvm::format("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                     "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
                     "%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                     width, height, width, height);
  os << "<title>pw-prof: " << escapeXml(input.file) << "</title>\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"8\" y=\"18\" font-size=\"14\">" << escapeXml(input.file)
     << ": per-stream timeline from " << formatMicroseconds(begin)
     << " us</text>\n";
  os << "<g font-size=\"11\">\n";
  struct Legend {
    double x;
    const char *color, *text;
  };
  for (const Legend &legend :
       {Legend{8, "#4878d0", "compute"}, Legend{88, "#ee854a", "communication"},
        Legend{208, "#8c613c", "communication under compute"}})
    os << llvm::format("<rect x=\"%.0f\" y=\"26\" width=\"12\" "
                       "height=\"10\" fill=\"%s\"/><text x=\"%.0f\" "
                       "y=\"35\">%s</text>\n",
                       legend.x, legend.color, legend.x + 16, legend.text);
  os << "</g>\n";

  // Axis: about ten ticks at 1, 2 or 5 times a power of ten microseconds.
  double rawStep = duration / 1000.0 / 10.0;
  double magnitude = std::pow(10.0, std::floor(std::log10(rawStep)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0})
    if (factor * magnitude >= rawStep) {
      step = factor * magnitude;
      break;
    }
  os << "<g stroke=\"#ccc\">\n";
  for (double tick = 0; tick <= duration / 1000.0 + 1e-9; tick += step) {
    double at = kLabelWidth + kPlotWidth * tick * 1000.0 / duration;
    os << llvm::format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                       "y2=\"%.1f\"/>\n",
                       at, kTop - 12, at, height - 20);
  }
  os << "</g>\n<g fill=\"#555\" font-size=\"10\">\n";
  for (double tick = 0; tick <= duration / 1000.0 + 1e-9; tick += step) {
    double at = kLabelWidth + kPlotWidth * tick * 1000.0 / duration;
    os << llvm::format("<text x=\"%.1f\" y=\"%.1f\">%g us</text>\n", at + 2,
                       kTop - 16, tick);
  }
  os << "</g>\n";

  // Bars closer than half a pixel merge, so huge traces stay small.
  auto drawIntervals = [&](const std::vector<Interval> &intervals,
                           const char *color, double y) {
    double pendingStart = -1, pendingEnd = -1;
    auto flush = [&] {
      if (pendingStart < 0)
        return;
      os << llvm::format("<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                         "height=\"%.1f\" fill=\"%s\"/>\n",
                         pendingStart, y,
                         std::max(pendingEnd - pendingStart, 0.5), kBarHeight,
                         color);
    };
    for (const Interval &interval : intervals) {
      double from = x(interval.start), to = x(interval.end);
      if (pendingStart >= 0 && from - pendingEnd < 0.5) {
        pendingEnd = std::max(pendingEnd, to);
        continue;
      }
      flush();
      pendingStart = from;
      pendingEnd = to;
    }
    flush();
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row &row = rows[i];
    double y = kTop + kRowHeight * i;
    os << llvm::format("<text x=\"8\" y=\"%.0f\"%s>", y + kBarHeight - 3,
                       row.deviceRow ? " font-style=\"italic\"" : "")
       << escapeXml(row.label) << "</text>\n";
    os << llvm::format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\" fill=\"#f4f4f4\"/>\n",
                       kLabelWidth, y, kPlotWidth, kBarHeight);
    for (const auto &[cls, intervals] : row.bars)
      drawIntervals(intervals,
                    cls == WorkClass::Communication ? "#ee854a" : "#4878d0", y);
    drawIntervals(row.hidden, "#8c613c", y);
  }
  os << "</svg>\n";
}

//===----------------------------------------------------------------------===//
// Pipeline view
//===----------------------------------------------------------------------===//

/// A difference of two ratios in percentage points, always signed.
static std::string signedPercent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%+.2f%%", 100.0 * fraction);
  return text;
}

static std::string rankText(const RankPipeline &rank) {
  return rank.rank ? std::to_string(*rank.rank) : "-";
}

void writePipelineTable(const PipelineInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const PipelineView &view = input.view;
  os << "trace: " << input.file << "\n";
  os << "\npipeline (us; busy = union of kernel intervals within the span, "
        "bubble = span - busy)\n";
  if (view.ranks.empty()) {
    os << "  (no kernels or step slices)\n";
    return;
  }
  std::vector<std::string> header = {"rank",    "pid",    "steps",
                                     "kernels", "start",  "span",
                                     "busy",    "bubble", "bubble%"};
  if (input.comparison) {
    header.push_back("predicted");
    header.push_back("difference");
  }
  Table table(std::move(header));
  std::vector<const RankComparison *> comparisonOf(view.ranks.size());
  if (input.comparison)
    for (const RankComparison &row : input.comparison->ranks)
      comparisonOf[row.measured] = &row;
  bool fromKernels = false;
  for (size_t i = 0; i < view.ranks.size(); ++i) {
    const RankPipeline &rank = view.ranks[i];
    fromKernels |= !rank.spanFromSteps;
    std::optional<double> ratio = rank.bubbleRatio();
    std::vector<std::string> row = {rankText(rank),
                                    idText(trace.processes[rank.process].pid),
                                    std::to_string(rank.steps),
                                    std::to_string(rank.kernels),
                                    formatMicroseconds(rank.start),
                                    formatMicroseconds(rank.span()),
                                    formatMicroseconds(rank.busy),
                                    formatMicroseconds(rank.bubble()),
                                    ratio ? percent(*ratio) : "-"};
    if (const RankComparison *compared = comparisonOf[i]) {
      row.push_back(percent(compared->predictedRatio));
      std::optional<double> difference = compared->difference();
      row.push_back(difference ? signedPercent(*difference) : "-");
    }
    table.add(std::move(row));
  }
  table.print(os);
  if (fromKernels)
    os << "  (steps 0: span from the first kernel start to the last kernel "
          "end)\n";
  if (input.comparison)
    os << "  (difference = measured - predicted bubble%)\n";
  os << "max span: " << formatMicroseconds(view.maxSpan()) << " us\n";
  if (const PipelineComparison *comparison = input.comparison) {
    os << "\npredicted (" << input.predictedFile << ")\n";
    os << llvm::format("  makespan       %g units\n",
                       comparison->predictedMakespan);
    os << "  measured span  " << formatMicroseconds(comparison->measuredSpan)
       << " us (the longest rank span)\n";
    if (comparison->microsecondsPerUnit)
      os << llvm::format("  us per unit    %.6g\n",
                         *comparison->microsecondsPerUnit);
    else
      os << "  us per unit    - (the predicted makespan is 0)\n";
  }
}

void writePipelineJson(const PipelineInput &input, llvm::raw_ostream &os) {
  const Trace &trace = input.trace;
  const PipelineView &view = input.view;
  std::vector<const RankComparison *> comparisonOf(view.ranks.size());
  if (input.comparison)
    for (const RankComparison &row : input.comparison->ranks)
      comparisonOf[row.measured] = &row;
  llvm::json::OStream json(os, 2);
  json.object([&] {
    json.attribute("file", input.file);
    json.attributeArray("ranks", [&] {
      for (size_t i = 0; i < view.ranks.size(); ++i) {
        const RankPipeline &rank = view.ranks[i];
        json.object([&] {
          if (rank.rank)
            json.attribute("rank", *rank.rank);
          else
            json.attribute("rank", nullptr);
          json.attributeBegin("pid");
          writeId(json, trace.processes[rank.process].pid);
          json.attributeEnd();
          json.attribute("name", trace.processes[rank.process].name);
          json.attribute("steps", rank.steps);
          json.attribute("kernels", rank.kernels);
          json.attribute("span_from", rank.spanFromSteps ? "steps" : "kernels");
          attributeTime(json, "start_us", rank.start);
          attributeTime(json, "span_us", rank.span());
          attributeTime(json, "busy_us", rank.busy);
          attributeTime(json, "bubble_us", rank.bubble());
          if (std::optional<double> ratio = rank.bubbleRatio())
            json.attribute("bubble_ratio", *ratio);
          else
            json.attribute("bubble_ratio", nullptr);
          if (const RankComparison *compared = comparisonOf[i]) {
            json.attribute("predicted_bubble_ratio", compared->predictedRatio);
            if (std::optional<double> difference = compared->difference())
              json.attribute("bubble_ratio_difference", *difference);
            else
              json.attribute("bubble_ratio_difference", nullptr);
          }
        });
      }
    });
    attributeTime(json, "max_span_us", view.maxSpan());
    if (const PipelineComparison *comparison = input.comparison)
      json.attributeObject("predicted", [&] {
        json.attribute("file", input.predictedFile);
        json.attribute("makespan_units", comparison->predictedMakespan);
        attributeTime(json, "measured_span_us", comparison->measuredSpan);
        if (comparison->microsecondsPerUnit)
          json.attribute("us_per_unit", *comparison->microsecondsPerUnit);
        else
          json.attribute("us_per_unit", nullptr);
      });
  });
  os << "\n";
}

std::optional<std::string> readPredictedReport(const std::string &file,
                                               PredictedReport &report) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFileOrSTDIN(file, /*IsText=*/true);
  if (!buffer)
    return file + ": cannot read the file: " + buffer.getError().message();
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed) {
    // llvm::json says "[line:column, byte=N]: problem"; pw-prof's style is
    // "<file>:<byte offset>: <problem>", as for traces.
    std::string message = llvm::toString(parsed.takeError());
    llvm::SmallVector<llvm::StringRef, 3> match;
    if (llvm::Regex("byte=([0-9]+)\\]: (.*)$").match(message, &match))
      return file + ":" + match[1].str() + ": " + match[2].str();
    return file + ": " + message;
  }
  // Only the fields the comparison uses; the report has many more.
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return file + ": expected the JSON object of `pwc --emit=report "
                  "--format=json`";
  std::optional<double> makespan = root->getNumber("makespan");
  if (!makespan)
    return file + ": \"makespan\" must be a number";
  report.makespan = *makespan;
  const llvm::json::Array *ranks = root->getArray("ranks");
  if (!ranks)
    return file + ": \"ranks\" must be an array";
  report.ranks.clear();
  for (size_t i = 0; i < ranks->size(); ++i) {
    std::string where = file + ": ranks[" + std::to_string(i) + "]";
    const llvm::json::Object *rank = (*ranks)[i].getAsObject();
    if (!rank)
      return where + " must be an object";
    PredictedRank predicted;
    std::optional<int64_t> number = rank->getInteger("rank");
    if (!number)
      return where + ": \"rank\" must be an integer";
    predicted.rank = *number;
    std::optional<double> ratio = rank->getNumber("bubble_ratio");
    if (!ratio)
      return where + ": \"bubble_ratio\" must be a number";
    predicted.bubbleRatio = *ratio;
    predicted.busy = rank->getNumber("busy").value_or(0.0);
    predicted.bubble = rank->getNumber("bubble").value_or(0.0);
    report.ranks.push_back(predicted);
  }
  return std::nullopt;
}

} // namespace pipeweave::prof
