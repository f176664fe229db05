//===- Error.h - Status plus message, the runtime's error value -*- C++ -*-===//
//
// Internal functions return an Error: PWRT_OK, or a status with the message
// that pwrt_last_error() will show. Fatal errors leave MPI unusable (a peer
// is gone or a thread is stuck) and stick to the context.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_ERROR_H
#define PWRT_LIB_ERROR_H

#include "pwrt/pwrt.h"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace pwrt {

struct Error {
  pwrt_status code = PWRT_OK;
  std::string message;
  bool fatal = false;

  Error() = default;
  Error(pwrt_status code, std::string message, bool fatal = false)
      : code(code), message(std::move(message)), fatal(fatal) {}

  static Error ok() { return Error(); }
  bool failed() const { return code != PWRT_OK; }
  explicit operator bool() const { return failed(); }
};

template <typename... Args>
Error makeError(pwrt_status code, fmt::format_string<Args...> format,
                Args &&...args) {
  return Error(code, fmt::format(format, std::forward<Args>(args)...));
}

const char *statusString(pwrt_status status);

/// "forward", "backward_input", ... for messages and traces.
const char *actionKindName(pwrt_action_kind kind);
/// ", layer 2" for a component's layer, "" for -1 (none): what follows
/// "stage S, micro-batch M" in messages.
std::string layerText(int32_t layer);
/// "activation", "gradient", "message".
const char *payloadName(pwrt_payload payload);

} // namespace pwrt

#endif // PWRT_LIB_ERROR_H
