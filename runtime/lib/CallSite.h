//===- CallSite.h - Messages for failed CUDA and NCCL calls -----*- C++ -*-===//
//
// Every CUDA and NCCL call of the CUDA backend is checked; a failure names
// the call, the rank, what the rank was doing (the kernel with its stage
// and micro-batch, the transfer, ...) and the stream. The formatting needs
// no CUDA headers, so it is tested on every build.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_LIB_CALLSITE_H
#define PWRT_LIB_CALLSITE_H

#include <string>
#include <string_view>

namespace pwrt {

/// Where a call was made, as much as is known.
struct CallSite {
  int rank = -1;
  std::string doing;  // "kernel 'fwd' at stage 1, micro-batch 2 (forward)"
  std::string stream; // stream name; empty: none
};

/// The function an expression calls: "cudaMalloc" for "cudaMalloc(&p, n)",
/// the expression itself if it calls nothing.
std::string calledFunction(std::string_view expression);

/// "rank 1: ncclGroupEnd failed with ncclRemoteError (remote process
/// exited or there was a network error) while running send activation
/// stage 1 mb 2 to rank 2 (1024 bytes, tag 5) on stream 'comm'; NCCL says:
/// <detail>". Parts that are unknown are left out.
std::string describeFailedCall(std::string_view expression,
                               std::string_view errorName,
                               std::string_view errorText, const CallSite &site,
                               std::string_view detail = {});

} // namespace pwrt

#endif // PWRT_LIB_CALLSITE_H
