// RUN: pw-opt %s -split-input-file -verify-diagnostics

sched.program @twice ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    // expected-error @+1 {{forward of stage 0 micro-batch 0 runs twice}}
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}

// -----

sched.program @early ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+1 {{before its forward}}
    sched.backward stage 0 mb 0
    sched.forward stage 0 mb 0
  }
}

// -----

sched.program @wfirst ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    // expected-error @+1 {{runs before its backward-input}}
    sched.backward_weight stage 0 mb 0
    sched.backward_input stage 0 mb 0
  }
}

// -----

sched.program @split ranks = 2 stages = 1 microbatches = 2 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
  sched.rank 1 {
    // expected-error @+1 {{stage 0 runs on rank 0 and rank 1; a stage must run on exactly one rank}}
    sched.forward stage 0 mb 1
    sched.backward stage 0 mb 1
  }
}

// -----

// expected-error @+1 {{stage 0 is missing}}
sched.program @missing ranks = 1 stages = 1 microbatches = 2 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}

// -----

// expected-error @+2 {{stage 0 is missing forward for micro-batch 0}}
// expected-error @+1 {{stage 0 is missing backward (B or I) for micro-batch 0}}
sched.program @range ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+1 {{stage 3}}
    sched.forward stage 3 mb 0
  }
}

// -----

sched.program @peer ranks = 2 stages = 2 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    // expected-error @+1 {{peer}}
    sched.send activation stage 0 mb 0 to 0 bytes 0
    sched.backward stage 0 mb 0
  }
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
  }
}

// -----

sched.program @unmatched ranks = 2 stages = 2 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    // expected-error @+1 {{no matching}}
    sched.send activation stage 0 mb 0 to 1 bytes 0
    sched.backward stage 0 mb 0
  }
  sched.rank 1 {
    sched.forward stage 1 mb 0
    sched.backward stage 1 mb 0
  }
}

// -----

// expected-error @+1 {{has no sched.rank 1; every rank 0..1 needs one (it may be empty)}}
sched.program @norank ranks = 2 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}

// -----

sched.program @rankrange ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  // expected-error @+1 {{names rank 1, but the program has 1 ranks (0..0)}}
  sched.rank 1 {
  }
}

// -----

sched.program @dup ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  // expected-note @+1 {{first given here}}
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
  // expected-error @+1 {{rank 0 is given twice}}
  sched.rank 0 {
  }
}

// -----

// expected-error @+1 {{microbatches (3) must divide evenly into 2 directions}}
sched.program @dirs ranks = 1 stages = 2 microbatches = 3 schedule = "x" directions = 2 {
  sched.rank 0 {
  }
}

// -----

// expected-error @+1 {{activation_bytes has 1 entries; expected one per stage (2)}}
sched.program @bytes ranks = 1 stages = 2 microbatches = 1 schedule = "x" attributes {activation_bytes = array<i64: 4>} {
  sched.rank 0 {
  }
}

// -----

sched.program @pair ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+1 {{overlap}}
    sched.overlap forward stage 0 mb 0 backward stage 0 mb 0
  }
}

// -----

sched.program @payload ranks = 2 stages = 2 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+2 {{expected ::pipeweave::sched::Payload to be one of: activation, gradient}}
    // expected-error @+1 {{failed to parse Sched_PayloadAttr parameter}}
    sched.send weights stage 0 mb 0 to 1 bytes 0
  }
}

// -----

// expected-error @+1 {{'sched.forward' op expects parent op 'sched.rank'}}
sched.forward stage 0 mb 0

// -----

sched.program @neg ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+1 {{attribute 'mb' failed to satisfy constraint}}
    sched.forward stage 0 mb -1
  }
}

// -----

// expected-error @+1 {{cost_model field 'forward' has 1 entries; expected one per stage (2)}}
sched.program @costs ranks = 1 stages = 2 microbatches = 1 schedule = "x" attributes {cost_model = {forward = array<f64: 1.0>, backward_input = array<f64: 1.0, 1.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 2.0, 2.0>, overlapped = array<f64: 3.0, 3.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0}} {
  sched.rank 0 {
  }
}

// -----

// expected-error @+1 {{cost_model field 'p2p_bandwidth' must be a positive f64}}
sched.program @bw ranks = 1 stages = 1 microbatches = 1 schedule = "x" attributes {cost_model = {forward = array<f64: 1.0>, backward_input = array<f64: 1.0>, backward_weight = array<f64: 1.0>, backward = array<f64: 2.0>, overlapped = array<f64: 3.0>, activation_memory = array<i64: 0>, p2p_latency = 0.0, p2p_bandwidth = 0.0}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.backward stage 0 mb 0
  }
}

// -----

// expected-error @+1 {{cost_model field 'speed' is unknown}}
sched.program @unknown ranks = 1 stages = 1 microbatches = 1 schedule = "x" attributes {cost_model = {speed = 1.0}} {
  sched.rank 0 {
  }
}

// -----
// Component plans of overlapped pairs (issue 8). Both stages: one layer of
// "attn" (compute) and "a2a" (all-to-all).

sched.program @unknownitem ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      // expected-error @+1 {{forward "mlp" layer 0 is not an item of this pair: the forward chunk is stage 0}}
      sched.component forward "mlp" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @layer ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      // expected-error @+1 {{backward_input "attn" layer 1 is not an item of this pair: the backward chunk is stage 1}}
      sched.component backward_input "attn" layer 1 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @twice ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      // expected-note @+1 {{first here}}
      sched.component forward "attn" layer 0 on compute
      // expected-error @+1 {{forward "attn" layer 0 appears twice in the plan}}
      sched.component forward "attn" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @stream ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      // expected-error @+1 {{forward "a2a" layer 0 runs on comm, not on compute}}
      sched.component forward "a2a" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @missing ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    // expected-error @+1 {{plan leaves out 1 of the pair's 5 items, e.g. backward_weight "attn" layer 0}}
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      sched.component backward "a2a" layer 0 on comm
      sched.component forward "attn" layer 0 on compute
      sched.component forward "a2a" layer 0 on comm
      sched.component backward_input "attn" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @cannotrun ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0, layers = array<i64: 1, 1>, stage_components = array<i64: 0, 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0, expert_group = @experts}]]}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    // The backward input of attn waits for a2a's backward, which the comm
    // stream runs after the forward a2a, which waits for the forward attn,
    // which the compute stream runs after the backward input.
    // expected-error @+1 {{plan the order cannot run: the compute stream waits at backward_input attn layer 0 for backward a2a layer 0, which its stream runs later}}
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      sched.component backward_input "attn" layer 0 on compute
      sched.component forward "a2a" layer 0 on comm
      sched.component forward "attn" layer 0 on compute
      sched.component backward "a2a" layer 0 on comm
      sched.component backward_weight "attn" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @nocosts ranks = 1 stages = 2 microbatches = 2 schedule = "x" {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    // expected-error @+1 {{has a component plan, but the program has no cost_model to check it against}}
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      sched.component forward "attn" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @nocomponents ranks = 1 stages = 2 microbatches = 2 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0, 2.0>, backward_input = array<f64: 3.0, 3.0>, backward_weight = array<f64: 1.0, 1.0>, backward = array<f64: 4.0, 4.0>, overlapped = array<f64: 6.0, 6.0>, activation_memory = array<i64: 0, 0>, p2p_latency = 0.0}} {
  sched.rank 0 {
    sched.forward stage 0 mb 0
    sched.forward stage 1 mb 0
    // expected-error @+1 {{has a component plan, but neither stage 0 nor stage 1 has components in the cost_model}}
    sched.overlap forward stage 0 mb 1 backward stage 1 mb 0 {
      sched.component forward "chunk" layer 0 on compute
    }
    sched.forward stage 1 mb 1
    sched.backward stage 1 mb 1
    sched.backward stage 0 mb 0
    sched.backward stage 0 mb 1
  }
}

// -----

sched.program @stray ranks = 1 stages = 1 microbatches = 1 schedule = "x" {
  sched.rank 0 {
    // expected-error @+1 {{'sched.component' op expects parent op 'sched.overlap'}}
    sched.component forward "attn" layer 0 on compute
  }
}

// -----

// expected-error @+1 {{cost_model field 'component_lists' entry 0 component 1: 'a2a' needs an 'expert_group' symbol}}
sched.program @nogroup ranks = 1 stages = 1 microbatches = 1 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0>, backward_input = array<f64: 3.0>, backward_weight = array<f64: 1.0>, backward = array<f64: 4.0>, overlapped = array<f64: 6.0>, activation_memory = array<i64: 0>, p2p_latency = 0.0, layers = array<i64: 1>, stage_components = array<i64: 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}, {name = "a2a", kind = "all_to_all", forward = 1.0, backward = 1.0}]]}} {
  sched.rank 0 {
  }
}

// -----

// expected-error @+1 {{cost_model field 'layers' of stage 0 must be >= 1 exactly when it has components (stage_components >= 0)}}
sched.program @nolayers ranks = 1 stages = 1 microbatches = 1 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0>, backward_input = array<f64: 3.0>, backward_weight = array<f64: 1.0>, backward = array<f64: 4.0>, overlapped = array<f64: 6.0>, activation_memory = array<i64: 0>, p2p_latency = 0.0, layers = array<i64: 0>, stage_components = array<i64: 0>, component_lists = [[{name = "attn", kind = "compute", forward = 1.0, backward_input = 2.0, backward_weight = 1.0}]]}} {
  sched.rank 0 {
  }
}

// -----

// expected-error @+1 {{cost_model field 'stage_components' must be an array<i64> with one entry per stage (it comes with layers and component_lists)}}
sched.program @partial ranks = 1 stages = 1 microbatches = 1 schedule = "x" attributes {cost_model = {forward = array<f64: 2.0>, backward_input = array<f64: 3.0>, backward_weight = array<f64: 1.0>, backward = array<f64: 4.0>, overlapped = array<f64: 6.0>, activation_memory = array<i64: 0>, p2p_latency = 0.0, layers = array<i64: 1>}} {
  sched.rank 0 {
  }
}
