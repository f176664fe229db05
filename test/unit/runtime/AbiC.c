/*===- AbiC.c - The runtime header used from C ----------------------------===*
 *
 * Compiled as C11: proves pwrt.h is a C header and that a C program can run
 * a step with a C kernel. Called from the gtests.
 *
 *===----------------------------------------------------------------------===*/

#include "pwrt/pwrt.h"

#include <string.h>

static pwrt_status doubleValues(const pwrt_kernel_args *args) {
  if (args->num_inputs != 1 || args->num_outputs != 1)
    return PWRT_ERROR_KERNEL_FAILED;
  const int *in = (const int *)args->inputs[0].data;
  int *out = (int *)args->outputs[0].data;
  for (size_t i = 0; i < args->inputs[0].bytes / sizeof(int); ++i)
    out[i] = 2 * in[i] + *(const int *)args->user_data;
  return PWRT_OK;
}

/* Runs one step of one kernel that writes out[i] = 2 * in[i] + 1 for
 * in[i] = i over 16 ints and returns PWRT_OK if the output is right. */
pwrt_status pwrtCSmokeTest(void) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.expected_world_size = 0;
  options.trace_path = "";
  pwrt_context *ctx = NULL;
  pwrt_status status = pwrt_context_create(&options, &ctx);
  if (status != PWRT_OK)
    return status;
  static int bias = 1;
  pwrt_kernel kernel = -1;
  pwrt_stream stream = -1;
  void *in = NULL, *out = NULL;
  enum { kBytes = 16 * sizeof(int) };
  if ((status = pwrt_register_kernel(ctx, "double", doubleValues, &bias,
                                     &kernel)) != PWRT_OK ||
      (status = pwrt_pool_create(ctx, 2 * kBytes, 0)) != PWRT_OK ||
      (status = pwrt_buffer_at(ctx, 0, kBytes, &in)) != PWRT_OK ||
      (status = pwrt_buffer_at(ctx, kBytes, kBytes, &out)) != PWRT_OK ||
      (status = pwrt_stream_create(ctx, "compute", &stream)) != PWRT_OK) {
    pwrt_context_destroy(ctx);
    return status;
  }
  for (int i = 0; i < 16; ++i)
    ((int *)in)[i] = i;
  pwrt_buffer input = {in, kBytes}, output = {out, kBytes};
  pwrt_kernel_args args;
  memset(&args, 0, sizeof args);
  args.kind = PWRT_ACTION_FORWARD;
  args.layer = -1;
  args.inputs = &input;
  args.num_inputs = 1;
  args.outputs = &output;
  args.num_outputs = 1;
  if ((status = pwrt_step_begin(ctx)) == PWRT_OK) {
    pwrt_status launched = pwrt_launch(ctx, stream, kernel, &args);
    status = pwrt_step_end(ctx);
    if (launched != PWRT_OK)
      status = launched;
  }
  for (int i = 0; status == PWRT_OK && i < 16; ++i)
    if (((int *)out)[i] != 2 * i + 1)
      status = PWRT_ERROR_INTERNAL;
  pwrt_status destroyed = pwrt_context_destroy(ctx);
  return status != PWRT_OK ? status : destroyed;
}
