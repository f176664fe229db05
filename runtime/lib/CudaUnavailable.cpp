//===- CudaUnavailable.cpp - A runtime built without CUDA -----------------===//

#include "Backend.h"

namespace pwrt {
namespace {
Error unavailable() {
  return Error(PWRT_ERROR_UNSUPPORTED,
               "the CUDA backend is not part of this build (CMake found no "
               "CUDA toolkit with NCCL; see runtime/README.md)");
}
} // namespace

std::unique_ptr<Backend> createCudaBackend(const ResolvedOptions &,
                                           const KernelTable &, Error &error) {
  error = unavailable();
  return nullptr;
}

Error createCudaLocalBackends(const ResolvedOptions &,
                              const std::vector<const KernelTable *> &,
                              const std::vector<int> &,
                              std::vector<std::unique_ptr<Backend>> &) {
  return unavailable();
}

} // namespace pwrt
