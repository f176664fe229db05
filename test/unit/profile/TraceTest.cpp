//===- TraceTest.cpp - Chrome trace reader --------------------------------===//

#include "passes/Profile/Trace.h"

#include <gtest/gtest.h>

using namespace pipeweave::profile;

namespace {

Nanoseconds ns(std::string_view text) {
  Nanoseconds value = -12345;
  EXPECT_TRUE(parseMicroseconds(text, value)) << text;
  return value;
}

bool rejects(std::string_view text) {
  Nanoseconds value;
  return !parseMicroseconds(text, value);
}

Trace parse(std::string_view json) {
  Trace trace;
  std::optional<TraceError> error = parseTrace(json, trace);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return trace;
}

TraceError parseError(std::string_view json) {
  Trace trace;
  std::optional<TraceError> error = parseTrace(json, trace);
  EXPECT_TRUE(error) << json;
  return error.value_or(TraceError{});
}

TEST(MicrosecondsTest, IntegersScaleExactly) {
  EXPECT_EQ(ns("0"), 0);
  EXPECT_EQ(ns("1"), 1000);
  // Beyond a double's 53 bits once in nanoseconds.
  EXPECT_EQ(ns("1740461679471346"), 1740461679471346000LL);
  EXPECT_EQ(ns("-7"), -7000);
  EXPECT_EQ(ns("12 \n"), 12000); // simdjson's raw tokens keep whitespace
}

TEST(MicrosecondsTest, FractionsAndExponentsAreExact) {
  EXPECT_EQ(ns("1.5"), 1500);
  EXPECT_EQ(ns("1740461679471346.123"), 1740461679471346123LL);
  EXPECT_EQ(ns("0.001"), 1);
  EXPECT_EQ(ns("1e3"), 1000000);
  EXPECT_EQ(ns("1.2345E2"), 123450);
  EXPECT_EQ(ns("25e-1"), 2500);
  EXPECT_EQ(ns("-2.5"), -2500);
}

TEST(MicrosecondsTest, SubNanosecondDigitsRoundToNearest) {
  EXPECT_EQ(ns("0.0004"), 0);
  EXPECT_EQ(ns("0.0005"), 1);
  EXPECT_EQ(ns("1.0014999"), 1001);
  EXPECT_EQ(ns("1.0015"), 1002);
  EXPECT_EQ(ns("1e-9"), 0);
  EXPECT_EQ(ns("-0.0006"), -1);
}

TEST(MicrosecondsTest, RejectsWhatIsNotAJsonNumber) {
  EXPECT_TRUE(rejects(""));
  EXPECT_TRUE(rejects("01"));
  EXPECT_TRUE(rejects("1."));
  EXPECT_TRUE(rejects(".5"));
  EXPECT_TRUE(rejects("+1"));
  EXPECT_TRUE(rejects("1e"));
  EXPECT_TRUE(rejects("1.2.3"));
  EXPECT_TRUE(rejects("\"12\""));
  EXPECT_TRUE(rejects("1 2"));
}

TEST(MicrosecondsTest, RejectsValuesBeyond64BitNanoseconds) {
  EXPECT_EQ(ns("9223372036854775"), 9223372036854775000LL);
  EXPECT_TRUE(rejects("9223372036854776"));
  EXPECT_TRUE(rejects("1e20"));
}

TEST(MicrosecondsTest, FormatsExactDecimals) {
  EXPECT_EQ(formatMicroseconds(0), "0");
  EXPECT_EQ(formatMicroseconds(118193000), "118193");
  EXPECT_EQ(formatMicroseconds(1500), "1.5");
  EXPECT_EQ(formatMicroseconds(1010), "1.01");
  EXPECT_EQ(formatMicroseconds(1), "0.001");
  EXPECT_EQ(formatMicroseconds(-1), "-0.001");
  EXPECT_EQ(formatMicroseconds(1740461679471346123LL), "1740461679471346.123");
}

TEST(TraceIdTest, NumbersInNumericOrderBeforeStrings) {
  auto number = [](std::string text) { return TraceId{text, true}; };
  auto string = [](std::string text) { return TraceId{text, false}; };
  EXPECT_TRUE(lessTraceId(number("2"), number("10")));
  EXPECT_FALSE(lessTraceId(number("10"), number("2")));
  EXPECT_TRUE(lessTraceId(number("-10"), number("-2")));
  EXPECT_TRUE(lessTraceId(number("-1"), number("0")));
  EXPECT_TRUE(lessTraceId(number("1.5"), number("2")));
  EXPECT_TRUE(lessTraceId(number("99"), string("0")));
  EXPECT_TRUE(lessTraceId(string("Spans"), string("Traces")));
  EXPECT_FALSE(lessTraceId(number("7"), number("7")));
}

TEST(TraceParserTest, ReadsKindsTracksAndMetadata) {
  Trace trace = parse(R"json({"schemaVersion": 1, "traceEvents": [
    {"ph": "M", "name": "process_name", "pid": 0, "tid": 0,
     "args": {"name": "python3"}},
    {"ph": "M", "name": "process_labels", "pid": 0, "args": {"labels": "GPU 0"}},
    {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7,
     "args": {"name": "stream 7 "}},
    {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7,
     "ts": 100, "dur": 20, "args": {"correlation": 11, "stream": 7}},
    {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy DtoD", "pid": 0,
     "tid": 7, "ts": 130, "dur": 1},
    {"ph": "X", "cat": "gpu_memset", "name": "Memset", "pid": 0, "tid": 7,
     "ts": 140, "dur": 0},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel",
     "pid": 1166, "tid": 1166, "ts": 90, "dur": 5,
     "args": {"correlation": 11}},
    {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel",
     "pid": 1166, "tid": 1166, "ts": 96, "dur": 1},
    {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1166,
     "tid": 1166, "ts": 85, "dur": 12},
    {"ph": "X", "cat": "user_annotation", "name": "attn(F)", "pid": 1166,
     "tid": 1166, "ts": 80, "dur": 100},
    {"ph": "X", "cat": "gpu_user_annotation", "name": "attn(F)", "pid": 0,
     "tid": 7, "ts": 100, "dur": 50},
    {"ph": "X", "cat": "transfer", "name": "send activation to 1",
     "pid": 3, "tid": 1, "ts": 1.5, "dur": 2.25},
    {"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)",
     "pid": "Spans", "tid": "PyTorch Profiler", "ts": 1, "dur": 2},
    {"ph": "i", "s": "g", "name": "Record Window End", "pid": "", "tid": "",
     "ts": 300},
    {"ph": "B", "name": "begin", "pid": 1, "tid": 1, "ts": 1}
  ], "traceName": "x"})json");
  EXPECT_FALSE(trace.bareArray);
  EXPECT_EQ(trace.counts.events, 15);
  EXPECT_EQ(trace.counts.complete, 10);
  EXPECT_EQ(trace.counts.metadata, 3);
  EXPECT_EQ(trace.counts.instant, 1);
  EXPECT_EQ(trace.counts.otherPhase, 1);
  ASSERT_EQ(trace.events.size(), 10u);
  std::vector<EventKind> kinds;
  for (const CompleteEvent &event : trace.events)
    kinds.push_back(event.kind);
  EXPECT_EQ(kinds,
            (std::vector<EventKind>{
                EventKind::Kernel, EventKind::Memcpy, EventKind::Memset,
                EventKind::LaunchCall, EventKind::LaunchCall, EventKind::CpuOp,
                EventKind::Annotation, EventKind::GpuAnnotation,
                EventKind::RuntimeOp, EventKind::Other}));

  const CompleteEvent &kernel = trace.events[0];
  EXPECT_EQ(trace.name(kernel), "gemm");
  EXPECT_EQ(kernel.start, 100000);
  EXPECT_EQ(kernel.duration, 20000);
  EXPECT_TRUE(kernel.hasCorrelation);
  EXPECT_EQ(kernel.correlation, 11);
  EXPECT_EQ(trace.pid(kernel.track), (TraceId{"0", true}));
  EXPECT_EQ(trace.tid(kernel.track), (TraceId{"7", true}));
  EXPECT_EQ(trace.tracks[kernel.track].name, "stream 7 ");
  EXPECT_EQ(trace.processes[trace.tracks[kernel.track].process].name,
            "python3");
  EXPECT_EQ(trace.processes[trace.tracks[kernel.track].process].labels,
            "GPU 0");
  EXPECT_FALSE(trace.events[4].hasCorrelation);
  EXPECT_EQ(trace.events[8].start, 1500);
  EXPECT_EQ(trace.events[8].duration, 2250);
  EXPECT_EQ(trace.pid(trace.events[9].track), (TraceId{"Spans", false}));
}

TEST(TraceParserTest, ReadsABareArray) {
  Trace trace = parse(R"json([
    {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7,
     "ts": 1, "dur": 2}
  ])json");
  EXPECT_TRUE(trace.bareArray);
  EXPECT_EQ(trace.events.size(), 1u);
}

TEST(TraceParserTest, SkipsCompleteEventsMissingTimesAndDefaultsIds) {
  Trace trace = parse(R"json([
    {"ph": "X", "cat": "kernel", "name": "no dur", "pid": 0, "tid": 7,
     "ts": 1},
    {"ph": "X", "cat": "kernel", "name": "no ts", "pid": 0, "tid": 7,
     "dur": 1},
    {"ph": "X", "cat": "kernel", "name": "negative", "pid": 0, "tid": 7,
     "ts": 5, "dur": -1},
    {"ph": "X", "cat": "kernel", "ts": 3, "dur": 4},
    {"ph": "s", "cat": "ac2g", "ts": 3},
    {"cat": "kernel", "ts": 3, "dur": 4}
  ])json");
  EXPECT_EQ(trace.counts.skippedComplete, 3);
  EXPECT_EQ(trace.counts.skippedFlow, 1);
  EXPECT_EQ(trace.counts.otherPhase, 1); // no "ph"
  ASSERT_EQ(trace.events.size(), 1u);
  EXPECT_EQ(trace.name(trace.events[0]), "");
  EXPECT_EQ(trace.pid(trace.events[0].track).text, "");
  EXPECT_EQ(trace.tid(trace.events[0].track).text, "");
}

TEST(TraceParserTest, ReadsFlows) {
  Trace trace = parse(R"json([
    {"ph": "s", "id": 44449, "pid": 1166, "tid": 1166, "ts": 10,
     "cat": "ac2g", "name": "ac2g"},
    {"ph": "f", "id": 44449, "pid": 0, "tid": 7, "ts": 20, "cat": "ac2g",
     "name": "ac2g", "bp": "e"},
    {"ph": "t", "id": "x1", "pid": 0, "tid": 7, "ts": 21, "cat": "c"}
  ])json");
  ASSERT_EQ(trace.flows.size(), 3u);
  EXPECT_EQ(trace.flows[0].phase, FlowPhase::Start);
  EXPECT_EQ(trace.flows[0].id, "44449");
  EXPECT_FALSE(trace.flows[0].bindsToEnclosing);
  EXPECT_EQ(trace.flows[1].phase, FlowPhase::Finish);
  EXPECT_EQ(trace.flows[1].time, 20000);
  EXPECT_TRUE(trace.flows[1].bindsToEnclosing);
  EXPECT_EQ(trace.flows[2].phase, FlowPhase::Step);
  EXPECT_EQ(trace.flows[2].id, "x1");
  EXPECT_EQ(trace.strings[trace.flows[0].category], "ac2g");
}

TEST(TraceParserTest, ArgsOfUnexpectedKindsAreIgnored) {
  Trace trace = parse(R"json([
    {"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 2,
     "args": {"correlation": "7", "name": 3, "grid": [1, 1, 1]}},
    {"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 2,
     "args": [1, 2]}
  ])json");
  ASSERT_EQ(trace.events.size(), 2u);
  EXPECT_FALSE(trace.events[0].hasCorrelation);
}

TEST(TraceParserTest, ErrorsCarryTheByteOffset) {
  // Truncated inside the event array: the offset is the end of the input.
  std::string truncated =
      R"json({"traceEvents":[{"ph":"X","ts":1,"dur":2},{"ph":)json";
  EXPECT_EQ(parseError(truncated).offset, truncated.size());
  // A trailing comma: at the ']' that follows it.
  EXPECT_EQ(parseError(R"json([{"ph":"X","ts":1,"dur":2},])json").offset, 27u);
  // A value of the wrong kind: at the value.
  TraceError wrongKind =
      parseError(R"json([{"ph":"X","ts":"12","dur":2}])json");
  EXPECT_EQ(wrongKind.offset, 16u);
  EXPECT_NE(wrongKind.message.find("\"ts\""), std::string::npos);
  EXPECT_EQ(parseError(R"json([{"ph":"X","ts":1.2.3,"dur":2}])json").offset,
            16u);
  EXPECT_EQ(parseError(R"json([{"name":7}])json").offset, 9u);
  EXPECT_EQ(parseError(R"json([{"ph":"X"}, 3])json").offset, 13u);
  // Not a trace at all.
  EXPECT_EQ(parseError(R"json({"events": []})json").offset, 0u);
  EXPECT_EQ(parseError(" 42").offset, 1u);
  EXPECT_EQ(parseError("").offset, 0u);
  // Text after the trace.
  EXPECT_EQ(parseError(R"json([] x)json").offset, 3u);
  // Errors simdjson finds before walking: located by the reader.
  EXPECT_EQ(parseError(R"json([{"name":"abc}])json").offset, 9u);
  EXPECT_EQ(parseError("[{\"name\":\"a\tb\"}]").offset, 11u);
  EXPECT_EQ(parseError("[{\"name\":\"a\xff\"}]").offset, 11u);
}

TEST(TraceParserTest, MissingFileIsAnIoErrorWithoutOffset) {
  Trace trace;
  std::optional<TraceError> error =
      parseTraceFile("/nonexistent/pw-prof/trace.json", trace);
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->offset);
}

} // namespace
