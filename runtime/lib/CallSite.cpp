//===- CallSite.cpp - Messages for failed CUDA and NCCL calls -------------===//

#include "CallSite.h"

#include <fmt/format.h>

#include <cctype>

namespace pwrt {

std::string calledFunction(std::string_view expression) {
  size_t begin = 0;
  while (begin < expression.size() &&
         std::isspace(static_cast<unsigned char>(expression[begin])))
    ++begin;
  size_t paren = expression.find('(', begin);
  if (paren == std::string_view::npos)
    return std::string(expression.substr(begin));
  size_t end = paren;
  while (end > begin &&
         std::isspace(static_cast<unsigned char>(expression[end - 1])))
    --end;
  // "::cudaMalloc" and "pwrt::x" name their last component.
  std::string_view name = expression.substr(begin, end - begin);
  size_t scope = name.rfind("::");
  if (scope != std::string_view::npos)
    name = name.substr(scope + 2);
  return std::string(name);
}

std::string describeFailedCall(std::string_view expression,
                               std::string_view errorName,
                               std::string_view errorText, const CallSite &site,
                               std::string_view detail) {
  std::string message;
  if (site.rank >= 0)
    message = fmt::format("rank {}: ", site.rank);
  message +=
      fmt::format("{} failed with {}", calledFunction(expression), errorName);
  if (!errorText.empty() && errorText != errorName)
    message += fmt::format(" ({})", errorText);
  if (!site.doing.empty())
    message += fmt::format(" while {}", site.doing);
  if (!site.stream.empty())
    message += fmt::format(" on stream '{}'", site.stream);
  if (!detail.empty())
    message += fmt::format("; {}", detail);
  return message;
}

} // namespace pwrt
