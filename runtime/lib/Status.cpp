//===- Status.cpp - Names of statuses and enumerators ---------------------===//

#include "Error.h"

namespace pwrt {

const char *statusString(pwrt_status status) {
  switch (status) {
  case PWRT_OK:
    return "ok";
  case PWRT_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case PWRT_ERROR_INVALID_STATE:
    return "invalid state";
  case PWRT_ERROR_WORLD_SIZE_MISMATCH:
    return "world size mismatch";
  case PWRT_ERROR_MISSING_KERNEL:
    return "missing kernel";
  case PWRT_ERROR_KERNEL_FAILED:
    return "kernel failed";
  case PWRT_ERROR_PEER_LOST:
    return "peer lost";
  case PWRT_ERROR_TIMEOUT:
    return "timeout";
  case PWRT_ERROR_MPI:
    return "MPI error";
  case PWRT_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  case PWRT_ERROR_UNSUPPORTED:
    return "unsupported";
  case PWRT_ERROR_IO:
    return "I/O error";
  case PWRT_ERROR_INTERNAL:
    return "internal error";
  case PWRT_ERROR_CAPACITY_EXCEEDED:
    return "capacity exceeded";
  case PWRT_ERROR_DEVICE:
    return "device error";
  }
  return "unknown status";
}

const char *actionKindName(pwrt_action_kind kind) {
  switch (kind) {
  case PWRT_ACTION_FORWARD:
    return "forward";
  case PWRT_ACTION_BACKWARD_INPUT:
    return "backward_input";
  case PWRT_ACTION_BACKWARD_WEIGHT:
    return "backward_weight";
  case PWRT_ACTION_BACKWARD:
    return "backward";
  case PWRT_ACTION_OVERLAP_FB:
    return "overlap";
  case PWRT_ACTION_OTHER:
    return "other";
  }
  return "unknown";
}

std::string layerText(int32_t layer) {
  return layer >= 0 ? fmt::format(", layer {}", layer) : std::string();
}

const char *payloadName(pwrt_payload payload) {
  switch (payload) {
  case PWRT_PAYLOAD_ACTIVATION:
    return "activation";
  case PWRT_PAYLOAD_GRADIENT:
    return "gradient";
  case PWRT_PAYLOAD_OTHER:
    return "message";
  }
  return "message";
}

} // namespace pwrt
