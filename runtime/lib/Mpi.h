//===- Mpi.h - Process-wide MPI state ---------------------------*- C++ -*-===//
//
// MPI is initialized once per process, by the first context (or by the
// program), and finalized at process exit, so that contexts can come and go
// (MPI cannot be initialized twice). Finalizing is skipped when a context
// broke MPI (a lost peer would hang MPI_Finalize) or is still alive.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_MPI_H
#define PWRT_LIB_MPI_H

#include "Error.h"

#include <mpi.h>

#include <string>

namespace pwrt::mpi {

/// Initializes MPI with MPI_THREAD_MULTIPLE unless the program already did;
/// fails if the thread level is lower. Registers the finalizer at exit.
Error initialize();

/// Counts live contexts.
void retain();
void release();

/// MPI must not be finalized: a peer is gone or a thread is stuck in MPI.
void markBroken();

/// "MPI_ERR_TRUNCATE: message truncated" style text for an MPI error code.
std::string errorString(int code);

} // namespace pwrt::mpi

#endif // PWRT_LIB_MPI_H
