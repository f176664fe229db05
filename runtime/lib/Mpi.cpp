//===- Mpi.cpp - Process-wide MPI state -----------------------------------===//

#include "Mpi.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace pwrt::mpi {
namespace {

std::mutex initMutex;
bool weInitialized = false;
std::atomic<int> liveContexts{0};
std::atomic<bool> broken{false};

void finalizeAtExit() {
  if (broken.load() || liveContexts.load() != 0)
    return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

const char *threadLevelName(int level) {
  switch (level) {
  case MPI_THREAD_SINGLE:
    return "MPI_THREAD_SINGLE";
  case MPI_THREAD_FUNNELED:
    return "MPI_THREAD_FUNNELED";
  case MPI_THREAD_SERIALIZED:
    return "MPI_THREAD_SERIALIZED";
  case MPI_THREAD_MULTIPLE:
    return "MPI_THREAD_MULTIPLE";
  }
  return "an unknown thread level";
}

} // namespace

Error initialize() {
  std::lock_guard<std::mutex> lock(initMutex);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    return makeError(PWRT_ERROR_INVALID_STATE,
                     "MPI was finalized before the context was created");
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS)
      return makeError(PWRT_ERROR_MPI, "MPI_Init_thread failed: {}",
                       errorString(rc));
    weInitialized = true;
    std::atexit(finalizeAtExit);
  } else {
    MPI_Query_thread(&provided);
  }
  // Stream threads post and complete their own transfers concurrently.
  if (provided < MPI_THREAD_MULTIPLE)
    return makeError(PWRT_ERROR_MPI,
                     "the host backend needs MPI_THREAD_MULTIPLE, but MPI "
                     "provides {}",
                     threadLevelName(provided));
  return Error::ok();
}

void retain() { liveContexts.fetch_add(1); }
void release() { liveContexts.fetch_sub(1); }
void markBroken() { broken.store(true); }

std::string errorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return fmt::format("MPI error {}", code);
  return std::string(text, size_t(length));
}

} // namespace pwrt::mpi
