//===- MiniJson.h - A strict JSON reader for report tests -------*- C++ -*-===//
//
// Parses the reports the simulator writes so that tests read figures back
// out of the JSON instead of matching text. Strict (RFC 8259): a document
// that a browser or Perfetto would reject fails here too.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_TEST_UNIT_SIMULATE_MINIJSON_H
#define PIPEWEAVE_TEST_UNIT_SIMULATE_MINIJSON_H

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pipeweave::simulate::pwtest {

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  std::string text;
  std::vector<Json> items;
  /// Members in document order (to check key order) and by name.
  std::vector<std::pair<std::string, Json>> members;

  bool has(std::string_view key) const { return find(key) != nullptr; }
  const Json *find(std::string_view key) const {
    for (const auto &[name, value] : members)
      if (name == key)
        return &value;
    return nullptr;
  }
  /// The member `key`; a Null value when missing.
  const Json &operator[](std::string_view key) const {
    static const Json missing;
    const Json *value = find(key);
    return value ? *value : missing;
  }
  const Json &operator[](size_t index) const {
    static const Json missing;
    return index < items.size() ? items[index] : missing;
  }
  size_t size() const {
    return type == Type::Array ? items.size() : members.size();
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> names;
    for (const auto &member : members)
      names.push_back(member.first);
    return names;
  }
};

class JsonParser {
public:
  /// The document, or std::nullopt with `error` set.
  static std::optional<Json> parse(std::string_view text, std::string *error) {
    JsonParser parser(text);
    Json value;
    if (!parser.value(value) ||
        (parser.skipSpace(), parser.pos != text.size())) {
      if (error)
        *error = "invalid JSON at offset " + std::to_string(parser.pos);
      return std::nullopt;
    }
    return value;
  }

private:
  explicit JsonParser(std::string_view text) : text(text) {}

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' ||
                                 text[pos] == '\r' || text[pos] == '\t'))
      ++pos;
  }
  bool literal(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return false;
    pos += word.size();
    return true;
  }

  bool value(Json &out) {
    skipSpace();
    if (pos >= text.size())
      return false;
    char c = text[pos];
    if (c == '{')
      return object(out);
    if (c == '[')
      return array(out);
    if (c == '"') {
      out.type = Json::Type::String;
      return string(out.text);
    }
    if (literal("true")) {
      out.type = Json::Type::Bool;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.type = Json::Type::Bool;
      return true;
    }
    if (literal("null"))
      return true;
    return number(out);
  }

  bool number(Json &out) {
    size_t start = pos;
    if (pos < text.size() && text[pos] == '-')
      ++pos;
    auto digits = [&] {
      size_t first = pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
        ++pos;
      return pos > first;
    };
    size_t intStart = pos;
    if (!digits())
      return false;
    if (text[intStart] == '0' && pos - intStart > 1)
      return false; // no leading zeros
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (!digits())
        return false;
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
      ++pos;
      if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
        ++pos;
      if (!digits())
        return false;
    }
    out.type = Json::Type::Number;
    out.number = std::strtod(
        std::string(text.substr(start, pos - start)).c_str(), nullptr);
    return true;
  }

  bool string(std::string &out) {
    ++pos; // opening quote
    while (pos < text.size()) {
      unsigned char c = text[pos++];
      if (c == '"')
        return true;
      if (c < 0x20)
        return false; // control characters must be escaped
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos >= text.size())
        return false;
      char escape = text[pos++];
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (pos + 4 > text.size())
          return false;
        unsigned code =
            std::stoul(std::string(text.substr(pos, 4)), nullptr, 16);
        pos += 4;
        if (code >= 0x80)
          return false; // the reports only escape ASCII controls
        out += static_cast<char>(code);
        break;
      }
      default:
        return false;
      }
    }
    return false;
  }

  bool array(Json &out) {
    out.type = Json::Type::Array;
    ++pos;
    skipSpace();
    if (pos < text.size() && text[pos] == ']') {
      ++pos;
      return true;
    }
    while (true) {
      Json item;
      if (!value(item))
        return false;
      out.items.push_back(std::move(item));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == ']') {
        ++pos;
        return true;
      }
      return false;
    }
  }

  bool object(Json &out) {
    out.type = Json::Type::Object;
    ++pos;
    skipSpace();
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
      return true;
    }
    while (true) {
      skipSpace();
      std::string name;
      if (pos >= text.size() || text[pos] != '"' || !string(name))
        return false;
      if (out.has(name))
        return false; // duplicate keys
      skipSpace();
      if (pos >= text.size() || text[pos] != ':')
        return false;
      ++pos;
      Json member;
      if (!value(member))
        return false;
      out.members.emplace_back(std::move(name), std::move(member));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        return true;
      }
      return false;
    }
  }

  std::string_view text;
  size_t pos = 0;
};

} // namespace pipeweave::simulate::pwtest

#endif // PIPEWEAVE_TEST_UNIT_SIMULATE_MINIJSON_H
