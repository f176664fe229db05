//===- StrCat.h - Building messages from parts ------------------*- C++ -*-===//
//
// Internal to the schedule library: concatenates text and numbers into one
// string, so that diagnostics read like the sentence they produce (the
// library targets C++20 compilers that may lack <format>).
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_STRCAT_H
#define PIPEWEAVE_SCHEDULE_STRCAT_H

#include <string>
#include <string_view>
#include <type_traits>

namespace pipeweave::schedule::detail {

template <typename Part> void appendPart(std::string &out, const Part &part) {
  if constexpr (std::is_arithmetic_v<Part>)
    out += std::to_string(part);
  else
    out += std::string_view(part);
}

/// strCat("stage ", 3, " runs twice") == "stage 3 runs twice".
template <typename... Parts> std::string strCat(const Parts &...parts) {
  std::string out;
  (appendPart(out, parts), ...);
  return out;
}

} // namespace pipeweave::schedule::detail

#endif // PIPEWEAVE_SCHEDULE_STRCAT_H
