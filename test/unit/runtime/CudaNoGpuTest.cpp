//===- CudaNoGpuTest.cpp - The CUDA backend where there is no GPU ---------===//
//
// Built with the CUDA backend, run everywhere (CI has no GPU): checked
// CUDA and NCCL calls that fail on any machine produce messages naming the
// call and where it was made; a CUDA context fails cleanly, with one clear
// message, when the machine has no usable GPU; arguments are checked before
// any device is touched. Tests that need a GPU are in cuda/ and skip here.
//
//===----------------------------------------------------------------------===//

#include "CudaCheck.h"
#include "pwrt/pwrt.h"
#include "pwrt/pwrt_cuda.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <string>

using namespace pwrt;

namespace {

bool haveGpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

Error checkedCudaCall() {
  // Fails everywhere: no driver, or no device -1.
  PWRT_CUDA_CHECK(cudaSetDevice(-1),
                  (CallSite{3, "testing a failed call", "compute"}));
  return Error::ok();
}

Error checkedNcclCall() {
  int count = 0;
  PWRT_NCCL_CHECK(ncclCommCount(nullptr, &count), nullptr,
                  (CallSite{2, "counting ranks", ""}));
  return Error::ok();
}

TEST(CudaNoGpu, FailedCudaCallNamesCallRankAndSite) {
  Error error = checkedCudaCall();
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code, PWRT_ERROR_DEVICE);
  EXPECT_FALSE(error.fatal) << "a bad device number breaks nothing";
  EXPECT_TRUE(std::regex_match(
      error.message,
      std::regex("rank 3: cudaSetDevice failed with cudaError[A-Za-z]+ "
                 "\\(.+\\) while testing a failed call on stream 'compute'")))
      << error.message;
}

TEST(CudaNoGpu, FailedNcclCallIsFatalAndNamesTheResult) {
  Error error = checkedNcclCall();
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code, PWRT_ERROR_DEVICE);
  EXPECT_TRUE(error.fatal);
  EXPECT_EQ(error.message.rfind("rank 2: ncclCommCount failed with "
                                "ncclInvalidArgument (",
                                0),
            0u)
      << error.message;
  EXPECT_NE(error.message.find("while counting ranks"), std::string::npos);
}

TEST(CudaNoGpu, StickyErrors) {
  EXPECT_TRUE(isStickyCudaError(cudaErrorIllegalAddress));
  EXPECT_TRUE(isStickyCudaError(cudaErrorLaunchFailure));
  EXPECT_FALSE(isStickyCudaError(cudaErrorInvalidConfiguration));
  EXPECT_FALSE(isStickyCudaError(cudaErrorMemoryAllocation));
  EXPECT_STREQ(ncclResultName(ncclRemoteError), "ncclRemoteError");
}

TEST(CudaNoGpu, AllocationFailuresAreOutOfMemory) {
  Error error =
      cudaCallFailed("cudaMalloc(&raw, bytes)", cudaErrorMemoryAllocation,
                     CallSite{0, "creating the pool of 8 bytes", ""});
  EXPECT_EQ(error.code, PWRT_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(error.message.rfind("rank 0: cudaMalloc failed with "
                                "cudaErrorMemoryAllocation (",
                                0),
            0u);
}

pwrt_context_options cudaOptions() {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.backend = PWRT_BACKEND_CUDA;
  options.flags = PWRT_FLAG_QUIET;
  return options;
}

TEST(CudaNoGpu, ContextFailsCleanlyWithoutAGpu) {
  if (haveGpu())
    GTEST_SKIP() << "this machine has a GPU; the GPU tests cover creation";
  pwrt_context_options options = cudaOptions();
  pwrt_context *ctx = reinterpret_cast<pwrt_context *>(0x1);
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_DEVICE);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_TRUE(std::regex_match(
      std::string(pwrt_last_error(nullptr)),
      std::regex("rank 0: the CUDA backend found no (usable )?GPU: .*")))
      << pwrt_last_error(nullptr);
  // The host backend still works in the same process.
  options.backend = PWRT_BACKEND_HOST;
  ASSERT_EQ(pwrt_context_create(&options, &ctx), PWRT_OK);
  EXPECT_EQ(pwrt_context_destroy(ctx), PWRT_OK);
}

TEST(CudaNoGpu, SingleProcessContextsFailCleanlyWithoutAGpu) {
  if (haveGpu())
    GTEST_SKIP() << "this machine has a GPU; the GPU tests cover creation";
  pwrt_context_options options = cudaOptions();
  pwrt_context *contexts[3] = {reinterpret_cast<pwrt_context *>(0x1),
                               reinterpret_cast<pwrt_context *>(0x1),
                               reinterpret_cast<pwrt_context *>(0x1)};
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 3, nullptr, contexts),
            PWRT_ERROR_DEVICE);
  for (pwrt_context *ctx : contexts)
    EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(std::string(pwrt_last_error(nullptr))
                .rfind("the CUDA backend found no ", 0),
            0u)
      << pwrt_last_error(nullptr);
}

TEST(CudaNoGpu, SingleProcessArgumentsAreCheckedFirst) {
  pwrt_context_options options = cudaOptions();
  pwrt_context *contexts[2] = {};
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 0, nullptr, contexts),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 2, nullptr, nullptr),
            PWRT_ERROR_INVALID_ARGUMENT);
  options.expected_world_size = 4;
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 2, nullptr, contexts),
            PWRT_ERROR_WORLD_SIZE_MISMATCH);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "the program was compiled for 4 ranks but asks for 2 in this "
               "process");
  options.expected_world_size = 0;
  options.backend = PWRT_BACKEND_HOST;
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 2, nullptr, contexts),
            PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "pwrt_cuda_contexts_create needs backend PWRT_BACKEND_CUDA");
}

TEST(CudaNoGpu, BadTransportVariableIsReportedBeforeTheDevice) {
  ::setenv("PW_CUDA_TRANSPORT", "ipc", 1);
  pwrt_context_options options = cudaOptions();
  pwrt_context *ctx = nullptr;
  EXPECT_EQ(pwrt_context_create(&options, &ctx), PWRT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "PW_CUDA_TRANSPORT='ipc' is not auto, nccl or local");
  pwrt_context *contexts[2] = {};
  EXPECT_EQ(pwrt_cuda_contexts_create(&options, 2, nullptr, contexts),
            PWRT_ERROR_INVALID_ARGUMENT);
  ::unsetenv("PW_CUDA_TRANSPORT");
}

TEST(CudaNoGpu, WorldSizeIsCheckedBeforeTheDevice) {
  pwrt_context_options options = cudaOptions();
  options.expected_world_size = 2;
  pwrt_context *ctx = nullptr;
  EXPECT_EQ(pwrt_context_create(&options, &ctx),
            PWRT_ERROR_WORLD_SIZE_MISMATCH);
  EXPECT_STREQ(pwrt_last_error(nullptr),
               "the program was compiled for 2 ranks but runs on 1 (this is "
               "rank 0); launch it with mpirun -np 2");
}

} // namespace
