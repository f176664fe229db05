// DualPipe on 8 ranks with 32 micro-batches: split backwards (I then W),
// a loss kernel on the last stages, a heavier first stage with its own
// forward kernel and gradients smaller than activations. FormsAgree runs
// the code pwc generates for it in both forms.
pipe.pipeline @train ranks = 8 microbatches = 32 schedule = "dualpipe" {
  pipe.cost forward = 1.0, backward_input = 1.0, backward_weight = 1.0, overlapped = 3.0
  pipe.tensor activation_bytes = 4096, gradient_bytes = 2048, activation_memory = 16384
  pipe.kernels forward = "fwd", backward_input = "bwd_in",
               backward_weight = "bwd_w", loss = "loss"
  pipe.stage 0 {
    pipe.kernels forward = "embed"
  }
}
