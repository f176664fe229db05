// The MLP example (zb-h1): 8 ranks, H = 32, 8 rows per micro-batch, fp32.
// Activations are 8 x 32 floats; a forward keeps x and z (8 x (32 + 128)).
pipe.pipeline @mlp_zbh1 ranks = 8 microbatches = 16 schedule = "zb-h1" {
  pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 1.0, overlapped = 2.5
  pipe.tensor activation_bytes = 1024, activation_memory = 5120
  pipe.kernels forward = "mlp_fwd", backward_input = "mlp_bwd_in",
               backward_weight = "mlp_bwd_w", backward = "mlp_bwd"
  pipe.stage 7 {
    pipe.kernels loss = "mlp_loss"
  }
}
