// The built-in demo (`pwc --demo`): a 4-rank 1F1B pipeline of 8 micro-batches
// whose first stage (embedding) and last stage (loss head) are uneven, as in
// most real models. Times are in milliseconds; bandwidth in bytes per ms.
pipe.pipeline @demo ranks = 4 microbatches = 8 schedule = "1f1b" {
  pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 0.8
  pipe.p2p latency = 0.02, bandwidth = 2.5e7
  pipe.tensor activation_bytes = 4194304
  pipe.kernels forward = "block_fwd", backward_input = "block_bwd_in",
               backward_weight = "block_bwd_w"
  pipe.stage 0 {
    pipe.cost forward = 1.3
    pipe.kernels forward = "embed_fwd"
  }
  pipe.stage 3 {
    pipe.cost forward = 1.2, backward_input = 1.4
    pipe.kernels loss = "cross_entropy"
  }
}
