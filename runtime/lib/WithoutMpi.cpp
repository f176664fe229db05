//===- WithoutMpi.cpp - A runtime built without MPI
//------------------------===//
//
// Builds for machines without MPI (e.g. a GPU machine that only has CUDA)
// have no host backend and start CUDA ranks only in one process.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "ControlPlane.h"

namespace pwrt {

std::unique_ptr<Backend> createHostBackend(const ResolvedOptions &,
                                           const KernelTable &, Error &error) {
  error = Error(PWRT_ERROR_UNSUPPORTED,
                "the host backend is not part of this build (the runtime "
                "was built without MPI)");
  return nullptr;
}

bool haveMpiControl() { return false; }

std::unique_ptr<ControlPlane> createMpiControl(double, Error &error) {
  error = Error(PWRT_ERROR_UNSUPPORTED,
                "this runtime was built without MPI: CUDA ranks can only run "
                "in one process (pwrt_cuda_contexts_create)");
  return nullptr;
}

} // namespace pwrt
