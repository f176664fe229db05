//===- Selection.h - Backend and transport names ----------------*- C++ -*-===//
//
// PW_BACKEND picks the backend of programs that leave it at its default;
// PW_CUDA_TRANSPORT picks how CUDA ranks exchange messages. Both are
// parsed here so that the rules can be tested without either backend.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_SELECTION_H
#define PWRT_LIB_SELECTION_H

#include "pwrt/pwrt.h"

#include <optional>
#include <string_view>

namespace pwrt {

/// What pwrt_context_options_init stores when PW_BACKEND names no backend;
/// pwrt_context_create then fails and quotes the variable.
constexpr int kBackendFromBadEnvironment = -1;

/// "host" or "cuda", in any case and without surrounding blanks.
std::optional<pwrt_backend> parseBackendName(std::string_view name);

/// The backend for pwrt_context_options_init: PW_BACKEND's (`text`, may be
/// NULL or empty: the host backend), or kBackendFromBadEnvironment.
int backendFromEnvironment(const char *text);

/// How CUDA ranks exchange messages.
enum class TransportChoice {
  Auto,  // NCCL unless ranks share a GPU (then local, in one process)
  Nccl,  // ncclSend/ncclRecv
  Local, // device-to-device copies between ranks of one process
};

/// "auto", "nccl" or "local", in any case; NULL or empty: Auto.
std::optional<TransportChoice> parseTransportName(const char *text);

const char *transportName(TransportChoice choice);

} // namespace pwrt

#endif // PWRT_LIB_SELECTION_H
