// RUN: pw-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{schedule '1f1b' needs microbatches >= ranks (got 2 < 4)}}
pipe.pipeline @few ranks = 4 microbatches = 2 schedule = "1f1b" {
}

// -----

// expected-error @+1 {{unknown schedule 'zigzag'; expected one of: gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-v, dualpipe, dualpipev}}
pipe.pipeline @bad ranks = 4 microbatches = 8 schedule = "zigzag" {
}

// -----

// expected-error @+1 {{'pipe.pipeline' op attribute 'ranks' failed to satisfy constraint}}
pipe.pipeline @zero ranks = 0 microbatches = 8 schedule = "gpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipe' needs an even number of ranks}}
pipe.pipeline @odd ranks = 3 microbatches = 12 schedule = "dualpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipe' needs microbatches >= 2 * ranks}}
pipe.pipeline @short ranks = 4 microbatches = 6 schedule = "dualpipe" {
}

// -----

// expected-error @+1 {{schedule 'dualpipev' needs microbatches >= 2 * ranks}}
pipe.pipeline @shortv ranks = 4 microbatches = 7 schedule = "dualpipev" {
}

// -----

// expected-error @+1 {{schedule 'gpipe' needs stages per rank == 1 (got 2)}}
pipe.pipeline @gp ranks = 2 microbatches = 2 schedule = "gpipe" stages_per_rank = 2 {
}

// -----

pipe.pipeline @typo ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{unknown field 'fwd' in pipe.cost; expected one of: forward, backward_input, backward_weight, backward, overlapped}}
  pipe.cost fwd = 1.0
}

// -----

pipe.pipeline @twice ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' is set twice in pipe.cost}}
  pipe.cost forward = 1.0, forward = 2.0
}

// -----

pipe.pipeline @negative ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'backward_input' must be a finite, non-negative number (got -1.0)}}
  pipe.cost backward_input = -1.0
}

// -----

pipe.pipeline @string ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' expects a number, got "fast"}}
  pipe.cost forward = "fast"
}

// -----

pipe.pipeline @bandwidth ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'bandwidth' must be positive}}
  pipe.p2p latency = 1.0, bandwidth = 0.0
}

// -----

pipe.pipeline @bytes ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{attribute 'activation_bytes' failed to satisfy constraint}}
  pipe.tensor activation_bytes = -4
}

// -----

pipe.pipeline @emptykernel ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'loss' must name a kernel, not be empty}}
  pipe.kernels loss = ""
}

// -----

pipe.pipeline @nofields ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{sets no fields; expected at least one of: latency, bandwidth}}
  pipe.p2p
}

// -----

pipe.pipeline @range ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{overrides stage 2, but @range has only 2 stages (2 ranks x 1 per rank)}}
  pipe.stage 2 {
    pipe.cost forward = 2.0
  }
}

// -----

pipe.pipeline @dupstage ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-note @+1 {{first override is here}}
  pipe.stage 1 {
    pipe.cost forward = 2.0
  }
  // expected-error @+1 {{overrides stage 1 a second time; merge it with the first override}}
  pipe.stage 1 {
    pipe.cost backward = 2.0
  }
}

// -----

pipe.pipeline @dupcost ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-note @+1 {{first one is here}}
  pipe.cost forward = 2.0
  // expected-error @+1 {{appears twice in one pipe.pipeline body; merge its fields into the first one}}
  pipe.cost backward = 2.0
}

// -----

pipe.pipeline @p2pinstage ranks = 2 microbatches = 2 schedule = "gpipe" {
  pipe.stage 0 {
    // expected-error @+1 {{expects parent op 'pipe.pipeline'}}
    pipe.p2p latency = 1.0
  }
}

// -----

pipe.pipeline @foreign ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{is not allowed in a pipe.pipeline body; expected pipe.cost, pipe.p2p, pipe.tensor, pipe.kernels or pipe.stage}}
  builtin.module {
  }
}

// -----

// expected-error @+1 {{'pipe.cost' op must appear directly in a pipe.pipeline or pipe.stage body}}
pipe.cost forward = 1.0

// -----

// expected-error @+1 {{overlapped F&B cost 1.5 of stage 1 is less than its slower half (backward 2.0); an overlapped pair takes at least max(forward, backward)}}
pipe.pipeline @overlap ranks = 2 microbatches = 4 schedule = "dualpipev" {
  pipe.cost forward = 1.0, backward = 1.8, overlapped = 1.9
  // expected-note @+1 {{stage 1 is overridden here}}
  pipe.stage 1 {
    pipe.cost backward = 2.0, overlapped = 1.5
  }
}

// -----

// expected-error @+1 {{expected '='}}
pipe.pipeline @syntax ranks 4 microbatches = 8 schedule = "1f1b" {
}

// -----

pipe.pipeline @intbytes ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'activation_bytes' expects an integer, got 1.500000e+00 : f64}}
  pipe.tensor activation_bytes = 1.5
}

// -----

pipe.pipeline @kernelname ranks = 2 microbatches = 2 schedule = "gpipe" {
  // expected-error @+1 {{field 'forward' expects a quoted kernel name, got 3 : i64}}
  pipe.kernels forward = 3
}
