//===- Selection.cpp - Backend and transport names ------------------------===//

#include "Selection.h"

#include <cctype>
#include <string>

namespace pwrt {
namespace {

/// Lower case, without leading and trailing blanks.
std::string normalized(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin])))
    ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1])))
    --end;
  std::string result;
  for (size_t i = begin; i < end; ++i)
    result += char(std::tolower(static_cast<unsigned char>(text[i])));
  return result;
}

} // namespace

std::optional<pwrt_backend> parseBackendName(std::string_view name) {
  std::string word = normalized(name);
  if (word == "host")
    return PWRT_BACKEND_HOST;
  if (word == "cuda")
    return PWRT_BACKEND_CUDA;
  return std::nullopt;
}

int backendFromEnvironment(const char *text) {
  if (!text || normalized(text).empty())
    return PWRT_BACKEND_HOST;
  std::optional<pwrt_backend> backend = parseBackendName(text);
  return backend ? int(*backend) : kBackendFromBadEnvironment;
}

std::optional<TransportChoice> parseTransportName(const char *text) {
  if (!text)
    return TransportChoice::Auto;
  std::string word = normalized(text);
  if (word.empty() || word == "auto")
    return TransportChoice::Auto;
  if (word == "nccl")
    return TransportChoice::Nccl;
  if (word == "local")
    return TransportChoice::Local;
  return std::nullopt;
}

const char *transportName(TransportChoice choice) {
  switch (choice) {
  case TransportChoice::Auto:
    return "auto";
  case TransportChoice::Nccl:
    return "nccl";
  case TransportChoice::Local:
    return "local";
  }
  return "auto";
}

} // namespace pwrt
