//===- TraceParser.cpp - Chrome trace JSON reader (simdjson) --------------===//
//
// simdjson's On Demand API walks the event array once, without building a
// document tree: a 300 MB trace costs the input buffer and simdjson's index,
// not gigabytes of JSON values (llvm::json needs about 50 times the input and
// parses well under 10 MB/s on such files). Only the values pw-prof reads are
// converted; the others are checked for structure and skipped.
//
//===----------------------------------------------------------------------===//

#include "passes/Profile/Trace.h"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace od = simdjson::ondemand;

namespace pipeweave::profile {

bool lessTraceId(const TraceId &a, const TraceId &b) {
  if (a.isNumber != b.isNumber)
    return a.isNumber;
  if (!a.isNumber)
    return a.text < b.text;
  // Integer texts compare by sign, then length, then digits; anything else
  // (decimals, exponents) falls back to the double value.
  bool aNegative = !a.text.empty() && a.text[0] == '-';
  bool bNegative = !b.text.empty() && b.text[0] == '-';
  bool integers = a.text.find_first_of(".eE") == std::string::npos &&
                  b.text.find_first_of(".eE") == std::string::npos;
  if (!integers)
    return std::strtod(a.text.c_str(), nullptr) <
           std::strtod(b.text.c_str(), nullptr);
  if (aNegative != bNegative)
    return aNegative;
  auto magnitudeLess = [](std::string_view x, std::string_view y) {
    return x.size() != y.size() ? x.size() < y.size() : x < y;
  };
  std::string_view aDigits = std::string_view(a.text).substr(aNegative);
  std::string_view bDigits = std::string_view(b.text).substr(bNegative);
  return aNegative ? magnitudeLess(bDigits, aDigits)
                   : magnitudeLess(aDigits, bDigits);
}

//===----------------------------------------------------------------------===//
// Exact decimal time
//===----------------------------------------------------------------------===//

bool parseMicroseconds(std::string_view text, Nanoseconds &nanoseconds) {
  // Trailing whitespace comes with simdjson's raw tokens.
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                           text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  // Fast path for the common case, a plain integer of microseconds.
  if (!text.empty() && text.size() <= 16 && text[0] != '0') {
    int64_t value = 0;
    bool digitsOnly = true;
    for (char c : text) {
      if (c < '0' || c > '9') {
        digitsOnly = false;
        break;
      }
      value = value * 10 + (c - '0');
    }
    if (digitsOnly && value <= INT64_MAX / 1000) {
      nanoseconds = value * 1000;
      return true;
    }
  }
  size_t pos = 0;
  auto isDigit = [&](size_t at) {
    return at < text.size() && text[at] >= '0' && text[at] <= '9';
  };
  bool negative = pos < text.size() && text[pos] == '-';
  pos += negative;
  // JSON grammar: int = 0 | [1-9][0-9]*; frac = . [0-9]+; exp = [eE][+-]?[0-9]+
  if (!isDigit(pos))
    return false;
  std::string_view intDigits, fracDigits;
  size_t intStart = pos;
  if (text[pos] == '0')
    ++pos;
  else
    while (isDigit(pos))
      ++pos;
  intDigits = text.substr(intStart, pos - intStart);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!isDigit(pos))
      return false;
    size_t fracStart = pos;
    while (isDigit(pos))
      ++pos;
    fracDigits = text.substr(fracStart, pos - fracStart);
  }
  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool negativeExponent = pos < text.size() && text[pos] == '-';
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
      ++pos;
    if (!isDigit(pos))
      return false;
    while (isDigit(pos)) {
      // Clamped: anything this large over- or underflows anyway.
      exponent = std::min<int64_t>(exponent * 10 + (text[pos] - '0'), 100000);
      ++pos;
    }
    if (negativeExponent)
      exponent = -exponent;
  }
  if (pos != text.size())
    return false;

  // The digits (integer then fraction) with the decimal point after
  // `point` of them; nanoseconds are the digits up to three places further
  // right, the next digit rounds.
  int64_t numDigits =
      static_cast<int64_t>(intDigits.size() + fracDigits.size());
  auto digitAt = [&](int64_t i) -> int {
    if (i >= numDigits)
      return 0;
    return i < static_cast<int64_t>(intDigits.size())
               ? intDigits[i] - '0'
               : fracDigits[i - intDigits.size()] - '0';
  };
  int64_t keep = static_cast<int64_t>(intDigits.size()) + exponent + 3;
  int64_t value = 0;
  for (int64_t i = 0; i < keep; ++i) {
    int digit = digitAt(i);
    if (value == 0 && i >= numDigits)
      break; // zero stays zero however many places it is shifted
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, digit, &value))
      return false;
  }
  if (keep >= 0 && digitAt(keep) >= 5 &&
      __builtin_add_overflow(value, 1, &value))
    return false;
  nanoseconds = negative ? -value : value;
  return true;
}

std::string formatMicroseconds(Nanoseconds nanoseconds) {
  bool negative = nanoseconds < 0;
  // Unsigned so that INT64_MIN has a magnitude too.
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(nanoseconds)
                                : static_cast<uint64_t>(nanoseconds);
  std::string text = (negative ? "-" : "") + std::to_string(magnitude / 1000);
  if (uint64_t fraction = magnitude % 1000) {
    char digits[4];
    std::snprintf(digits, sizeof(digits), "%03u",
                  static_cast<unsigned>(fraction));
    std::string_view trimmed(digits, 3);
    while (trimmed.back() == '0')
      trimmed.remove_suffix(1);
    text += '.';
    text += trimmed;
  }
  return text;
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};
using StringIndex =
    std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

/// Plain-language versions of simdjson's error codes.
std::string describe(simdjson::error_code error) {
  switch (error) {
  case simdjson::TAPE_ERROR:
    return "malformed JSON: a missing or extra comma, colon, brace, bracket "
           "or key";
  case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    return "unexpected end of input inside an array or object (truncated "
           "file?)";
  case simdjson::NUMBER_ERROR:
    return "malformed number";
  case simdjson::T_ATOM_ERROR:
  case simdjson::F_ATOM_ERROR:
  case simdjson::N_ATOM_ERROR:
    return "malformed literal (expected true, false or null)";
  case simdjson::STRING_ERROR:
    return "malformed string escape";
  case simdjson::UTF8_ERROR:
    return "invalid UTF-8";
  case simdjson::UNCLOSED_STRING:
    return "unterminated string";
  case simdjson::UNESCAPED_CHARS:
    return "control character inside a string (it must be escaped)";
  case simdjson::EMPTY:
    return "empty input: expected a JSON object or array";
  case simdjson::DEPTH_ERROR:
    return "JSON nested too deeply";
  case simdjson::CAPACITY:
    return "input too large (simdjson reads documents up to 4 GiB)";
  case simdjson::INCORRECT_TYPE:
    return "malformed JSON value";
  default:
    return simdjson::error_message(error);
  }
}

/// simdjson's first pass reports some errors without a position; these find
/// it. They run only after a failure.
size_t locateUnclosedString(std::string_view text) {
  // Quotes pair up left to right, so with an odd count the last unescaped
  // quote opens the string that never closes.
  for (size_t i = text.size(); i-- > 0;) {
    if (text[i] != '"')
      continue;
    size_t backslashes = 0;
    while (backslashes < i && text[i - 1 - backslashes] == '\\')
      ++backslashes;
    if (backslashes % 2 == 0)
      return i;
  }
  return 0;
}

size_t locateControlCharacterInString(std::string_view text) {
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!inString) {
      inString = c == '"';
    } else if (c == '\\') {
      ++i;
    } else if (c == '"') {
      inString = false;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      return i;
    }
  }
  return 0;
}

size_t locateInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t valid = 0;
    for (size_t length = 1; length <= 4 && i + length <= text.size();
         ++length) {
      if (simdjson::validate_utf8(text.data() + i, length)) {
        valid = length;
        break;
      }
    }
    if (!valid)
      return i;
    i += valid;
  }
  return text.size();
}

class Reader {
public:
  Reader(std::string_view text, Trace &trace) : text(text), trace(trace) {}

  std::optional<TraceError> read(od::parser &parser,
                                 simdjson::padded_string_view input);

  /// The fields of one event that matter to some phase.
  struct Fields {
    std::string_view phase, category, name, pid, tid, id, bindPoint;
    std::string_view argName, argLabels;
    bool hasTs = false, hasDur = false;
    std::string_view tsText, durText;
    bool pidIsNumber = false, tidIsNumber = false;
    bool hasId = false;
    bool hasCorrelation = false;
    int64_t correlation = 0;
  };

private:
  std::optional<TraceError> readEvents(od::array events);
  std::optional<TraceError> readEvent(od::object event);
  std::optional<TraceError> readArgs(od::value args, Fields &fields);
  std::optional<TraceError> readString(od::value &value, std::string_view key,
                                       std::string_view &out);
  std::optional<TraceError> readId(od::value &value, std::string_view key,
                                   std::string_view &out, bool &isNumber);
  std::optional<TraceError> readTime(std::string_view token,
                                     std::string_view key, Nanoseconds &out);
  void addEvent(const Fields &fields);

  uint32_t intern(std::string_view text);
  uint32_t process(std::string_view pid, bool isNumber);
  uint32_t track(const Fields &fields);

  TraceError errorAt(const char *where, std::string message) const {
    return {static_cast<size_t>(where - text.data()), std::move(message)};
  }
  /// An error from simdjson while walking: located at the walk's position.
  TraceError walkError(simdjson::error_code error) {
    const char *where = nullptr;
    if (document->current_location().get(where) ||
        where >= text.data() + text.size())
      return {text.size(), "unexpected end of input (truncated file?)"};
    return errorAt(where, describe(error));
  }
  TraceError valueError(od::value &value, std::string message) {
    const char *where = nullptr;
    if (value.current_location().get(where))
      return walkError(simdjson::INCORRECT_TYPE);
    return errorAt(where, std::move(message));
  }

  std::string_view text;
  Trace &trace;
  od::document *document = nullptr;
  StringIndex strings, processes, tracks;
  std::string trackKey;
  // The last track looked up: consecutive events mostly share one.
  std::string lastPid, lastTid;
  uint32_t lastTrack = UINT32_MAX;
};

uint32_t Reader::intern(std::string_view text) {
  auto it = strings.find(text);
  if (it != strings.end())
    return it->second;
  uint32_t index = trace.strings.size();
  trace.strings.emplace_back(text);
  strings.emplace(std::string(text), index);
  return index;
}

uint32_t Reader::process(std::string_view pid, bool isNumber) {
  auto it = processes.find(pid);
  if (it != processes.end())
    return it->second;
  uint32_t index = trace.processes.size();
  trace.processes.push_back({{std::string(pid), isNumber}, "", ""});
  processes.emplace(std::string(pid), index);
  return index;
}

uint32_t Reader::track(const Fields &fields) {
  if (lastTrack != UINT32_MAX && fields.pid == lastPid && fields.tid == lastTid)
    return lastTrack;
  uint32_t processIndex = process(fields.pid, fields.pidIsNumber);
  trackKey.assign(std::to_string(processIndex));
  trackKey += '\0';
  trackKey += fields.tid;
  auto it = tracks.find(trackKey);
  uint32_t index;
  if (it != tracks.end()) {
    index = it->second;
  } else {
    index = trace.tracks.size();
    trace.tracks.push_back(
        {processIndex, {std::string(fields.tid), fields.tidIsNumber}, ""});
    tracks.emplace(trackKey, index);
  }
  lastPid.assign(fields.pid);
  lastTid.assign(fields.tid);
  lastTrack = index;
  return index;
}

std::optional<TraceError> Reader::readString(od::value &value,
                                             std::string_view key,
                                             std::string_view &out) {
  if (value.get_string().get(out))
    return valueError(value, "\"" + std::string(key) + "\" must be a string");
  return std::nullopt;
}

std::optional<TraceError> Reader::readId(od::value &value, std::string_view key,
                                         std::string_view &out,
                                         bool &isNumber) {
  od::json_type type;
  if (auto error = value.type().get(type))
    return walkError(error);
  if (type == od::json_type::string) {
    isNumber = false;
    return readString(value, key, out);
  }
  if (type == od::json_type::number) {
    isNumber = true;
    out = value.raw_json_token();
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t' ||
                            out.back() == '\n' || out.back() == '\r'))
      out.remove_suffix(1);
    // raw_json_token() does not validate; get_double() does, unless the
    // token is plainly an integer.
    bool plainInteger =
        !out.empty() && out.size() <= 18 && (out[0] != '0' || out.size() == 1);
    for (char c : out)
      plainInteger = plainInteger && c >= '0' && c <= '9';
    double ignored;
    if (!plainInteger && value.get_double().get(ignored))
      return errorAt(out.data(),
                     "malformed number in \"" + std::string(key) + "\"");
    return std::nullopt;
  }
  return valueError(value,
                    "\"" + std::string(key) + "\" must be a number or string");
}

std::optional<TraceError> Reader::readTime(std::string_view token,
                                           std::string_view key,
                                           Nanoseconds &out) {
  if (!parseMicroseconds(token, out))
    return errorAt(token.data(),
                   "\"" + std::string(key) +
                       "\" must be a number of "
                       "microseconds that fits 64-bit nanoseconds");
  return std::nullopt;
}

std::optional<TraceError> Reader::readArgs(od::value args, Fields &fields) {
  od::json_type type;
  if (auto error = args.type().get(type))
    return walkError(error);
  if (type != od::json_type::object)
    return std::nullopt; // free-form; nothing pw-prof reads
  od::object object;
  if (auto error = args.get_object().get(object))
    return walkError(error);
  for (auto fieldResult : object) {
    od::field field;
    if (auto error = std::move(fieldResult).get(field))
      return walkError(error);
    od::raw_json_string key = field.key();
    od::value value = field.value();
    // Args are free-form: a value of an unexpected kind is ignored.
    if (key.is_equal("correlation")) {
      od::number_type numberType;
      if (!value.get_number_type().get(numberType) &&
          numberType == od::number_type::signed_integer &&
          !value.get_int64().get(fields.correlation))
        fields.hasCorrelation = true;
    } else if (key.is_equal("name") || key.is_equal("labels")) {
      od::json_type valueType;
      if (auto error = value.type().get(valueType))
        return walkError(error);
      if (valueType == od::json_type::string) {
        std::string_view &out =
            key.is_equal("name") ? fields.argName : fields.argLabels;
        if (auto error = readString(value, "args.name", out))
          return error;
      }
    }
  }
  return std::nullopt;
}

/// False when ph and cat are known and say the args hold nothing we read.
static bool needsArgs(const Reader::Fields &fields) {
  if (fields.phase.empty() || (fields.phase == "X" && fields.category.empty()))
    return true;
  if (fields.phase == "M")
    return true;
  if (fields.phase != "X")
    return false;
  std::string_view category = fields.category;
  return category == "kernel" || category == "gpu_memcpy" ||
         category == "gpu_memset" || category == "cuda_runtime" ||
         category == "cuda_driver";
}

std::optional<TraceError> Reader::readEvent(od::object event) {
  Fields fields;
  for (auto fieldResult : event) {
    od::field field;
    if (auto error = std::move(fieldResult).get(field))
      return walkError(error);
    od::raw_json_string key = field.key();
    od::value value = field.value();
    std::optional<TraceError> error;
    switch (key.raw()[0]) {
    case 'p':
      if (key.is_equal("ph"))
        error = readString(value, "ph", fields.phase);
      else if (key.is_equal("pid")) {
        error = readId(value, "pid", fields.pid, fields.pidIsNumber);
      }
      break;
    case 't':
      if (key.is_equal("ts")) {
        fields.tsText = value.raw_json_token();
        fields.hasTs = true;
      } else if (key.is_equal("tid")) {
        error = readId(value, "tid", fields.tid, fields.tidIsNumber);
      }
      break;
    case 'd':
      if (key.is_equal("dur")) {
        fields.durText = value.raw_json_token();
        fields.hasDur = true;
      }
      break;
    case 'c':
      if (key.is_equal("cat"))
        error = readString(value, "cat", fields.category);
      break;
    case 'n':
      if (key.is_equal("name"))
        error = readString(value, "name", fields.name);
      break;
    case 'i':
      if (key.is_equal("id")) {
        bool ignored;
        error = readId(value, "id", fields.id, ignored);
        fields.hasId = true;
      }
      break;
    case 'b':
      if (key.is_equal("bp"))
        error = readString(value, "bp", fields.bindPoint);
      break;
    case 'a':
      // Only launch calls, GPU ops and metadata need their args; Kineto
      // writes ph and cat first, so most args are skipped unread.
      if (key.is_equal("args") && needsArgs(fields))
        error = readArgs(value, fields);
      break;
    default:
      break;
    }
    if (error)
      return error;
  }

  ++trace.counts.events;
  std::string_view phase = fields.phase;
  if (phase == "X") {
    if (!fields.hasTs || !fields.hasDur) {
      ++trace.counts.skippedComplete;
      return std::nullopt;
    }
    CompleteEvent complete;
    if (auto error = readTime(fields.tsText, "ts", complete.start))
      return error;
    if (auto error = readTime(fields.durText, "dur", complete.duration))
      return error;
    Nanoseconds end;
    if (complete.duration < 0 ||
        __builtin_add_overflow(complete.start, complete.duration, &end)) {
      ++trace.counts.skippedComplete;
      return std::nullopt;
    }
    std::string_view category = fields.category;
    if (category == "kernel")
      complete.kind = EventKind::Kernel;
    else if (category == "gpu_memcpy")
      complete.kind = EventKind::Memcpy;
    else if (category == "gpu_memset")
      complete.kind = EventKind::Memset;
    else if (category == "cuda_runtime" || category == "cuda_driver")
      complete.kind = EventKind::LaunchCall;
    else if (category == "cpu_op" || category == "operator")
      complete.kind = EventKind::CpuOp;
    else if (category == "user_annotation")
      complete.kind = EventKind::Annotation;
    else if (category == "gpu_user_annotation")
      complete.kind = EventKind::GpuAnnotation;
    else if (category == "transfer")
      complete.kind = EventKind::RuntimeOp;
    else if (category == "step")
      complete.kind = EventKind::Step;
    complete.name = intern(fields.name);
    complete.track = track(fields);
    complete.hasCorrelation = fields.hasCorrelation;
    complete.correlation = fields.correlation;
    trace.events.push_back(complete);
    ++trace.counts.complete;
    return std::nullopt;
  }
  if (phase == "M") {
    ++trace.counts.metadata;
    if (fields.name == "process_name" || fields.name == "process_labels") {
      Process &p = trace.processes[process(fields.pid, fields.pidIsNumber)];
      (fields.name == "process_name" ? p.name : p.labels) =
          fields.name == "process_name" ? fields.argName : fields.argLabels;
    } else if (fields.name == "thread_name") {
      trace.tracks[track(fields)].name = fields.argName;
    }
    return std::nullopt;
  }
  if (phase == "s" || phase == "t" || phase == "f") {
    ++trace.counts.flow;
    FlowEvent flow;
    if (!fields.hasTs || !fields.hasId) {
      ++trace.counts.skippedFlow;
      return std::nullopt;
    }
    if (auto error = readTime(fields.tsText, "ts", flow.time))
      return error;
    flow.id = fields.id;
    flow.category = intern(fields.category);
    flow.track = track(fields);
    flow.phase = phase == "s"   ? FlowPhase::Start
                 : phase == "t" ? FlowPhase::Step
                                : FlowPhase::Finish;
    flow.bindsToEnclosing = fields.bindPoint == "e";
    trace.flows.push_back(std::move(flow));
    return std::nullopt;
  }
  if (phase == "i" || phase == "I")
    ++trace.counts.instant;
  else
    ++trace.counts.otherPhase;
  return std::nullopt;
}

std::optional<TraceError> Reader::readEvents(od::array events) {
  for (auto element : events) {
    od::json_type type;
    if (auto error = element.type().get(type))
      return walkError(error);
    od::object event;
    if (type != od::json_type::object || element.get_object().get(event)) {
      const char *where = nullptr;
      if (element.current_location().get(where))
        return walkError(simdjson::INCORRECT_TYPE);
      return errorAt(where, "expected an event object in the event array");
    }
    if (auto error = readEvent(event))
      return error;
  }
  return std::nullopt;
}

std::optional<TraceError> Reader::read(od::parser &parser,
                                       simdjson::padded_string_view input) {
  od::document doc;
  if (auto error = parser.iterate(input).get(doc)) {
    size_t offset = 0;
    if (error == simdjson::UNCLOSED_STRING)
      offset = locateUnclosedString(text);
    else if (error == simdjson::UNESCAPED_CHARS)
      offset = locateControlCharacterInString(text);
    else if (error == simdjson::UTF8_ERROR)
      offset = locateInvalidUtf8(text);
    return TraceError{offset, describe(error)};
  }
  document = &doc;

  const char *start = nullptr;
  if (doc.current_location().get(start))
    return TraceError{0, describe(simdjson::EMPTY)};
  od::json_type type;
  if (auto error = doc.type().get(type))
    return walkError(error);
  static constexpr const char *kShape =
      "expected an object with a \"traceEvents\" array, or an array of "
      "events";
  if (type != od::json_type::array && type != od::json_type::object)
    return errorAt(start, kShape);
  // Through a value rather than doc.get_object(): the document-level call
  // rejects a truncated file at offset 0, the walk finds where it ends.
  od::value rootValue;
  if (auto error = doc.get_value().get(rootValue))
    return walkError(error);
  if (type == od::json_type::array) {
    trace.bareArray = true;
    od::array events;
    if (auto error = rootValue.get_array().get(events))
      return walkError(error);
    if (auto error = readEvents(events))
      return error;
  } else {
    od::object root;
    if (auto error = rootValue.get_object().get(root))
      return walkError(error);
    bool found = false;
    for (auto fieldResult : root) {
      od::field field;
      if (auto error = std::move(fieldResult).get(field))
        return walkError(error);
      if (!field.key().is_equal("traceEvents"))
        continue;
      od::value value = field.value();
      od::array events;
      if (value.get_array().get(events))
        return valueError(value, "\"traceEvents\" must be an array");
      if (auto error = readEvents(events))
        return error;
      found = true;
    }
    if (!found)
      return errorAt(start, kShape);
  }
  // A complete walk leaves the iterator at the end; anything left is extra.
  const char *rest = nullptr;
  if (!doc.current_location().get(rest))
    return errorAt(rest, "unexpected text after the end of the trace");
  return std::nullopt;
}

} // namespace

std::optional<TraceError> parseTrace(std::string_view json, Trace &trace) {
  simdjson::padded_string padded(json);
  od::parser parser;
  return Reader(std::string_view(padded.data(), padded.size()), trace)
      .read(parser, padded);
}

std::optional<TraceError> parseTraceFile(const std::string &path,
                                         Trace &trace) {
  simdjson::padded_string padded;
  if (path == "-") {
    std::string input;
    char chunk[1 << 16];
    size_t read;
    while ((read = std::fread(chunk, 1, sizeof(chunk), stdin)) > 0)
      input.append(chunk, read);
    padded = simdjson::padded_string(input);
  } else {
    errno = 0;
    if (simdjson::padded_string::load(path).get(padded))
      return TraceError{std::nullopt,
                        std::string("cannot read the file") +
                            (errno ? std::string(": ") + std::strerror(errno)
                                   : std::string())};
  }
  od::parser parser;
  return Reader(std::string_view(padded.data(), padded.size()), trace)
      .read(parser, padded);
}

} // namespace pipeweave::profile
