// RUN: pw-opt %s -split-input-file -verify-diagnostics

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{saved slot 64+64 ends past the rank's pool of 100 bytes}}
    pwrt.launch forward "f" stage 0 mb 0 on %s (saved = 64+64)
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{unknown kind 'sideways'}}
    pwrt.launch sideways "f" stage 0 mb 0 on %s (saved = 0+1)
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{unknown buffer role 'weights'}}
    pwrt.launch forward "f" stage 0 mb 0 on %s (weights = 0+1)
  }
}

// -----

pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    pwrt.p2p_group on %s {
      // expected-error @+1 {{payload must be activation or gradient, not 'weights'}}
      pwrt.send weights stage 0 mb 0 to 1 tag 0 slot 0+4
    }
  }
  pwrt.rank 1 pool 0 {
  }
}

// -----

pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    pwrt.p2p_group on %s {
      // expected-error @+1 {{recv slot 90+20 ends past the rank's pool of 100 bytes}}
      pwrt.recv activation stage 0 mb 0 from 1 tag 0 slot 90+20
    }
  }
  pwrt.rank 1 pool 0 {
  }
}

// -----

// expected-error @+1 {{has no pwrt.rank 1}}
pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 0 {
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 0 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{buffer role 'saved' twice}}
    pwrt.launch forward "f" stage 0 mb 0 on %s (saved = 0+0, saved = 0+0)
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{buffer 'saved' must be a slot offset+bytes}}
    pwrt.launch forward "f" stage 0 mb 0 on %s (saved = -1+0)
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{stage and mb must be >= 0}}
    pwrt.launch forward "f" stage 0 mb -2 on %s (saved = 0+1)
  }
}

// -----

// The generic form carries the same fields as properties, checked the same.
pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{launch kind must be forward, backward_input, backward_weight, backward or loss, not "sideways"}}
    "pwrt.launch"(%s) <{buffers = {}, kernel = "f", kind = "sideways", mb = 0 : i64, stage = 0 : i64}> : (!pwrt.stream) -> ()
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{launch buffer 'weights' must be a role (input, output, saved, grad_output or grad_input) = array<i64: offset, bytes> with both >= 0}}
    "pwrt.launch"(%s) <{buffers = {weights = array<i64: 0, 4>}, kernel = "f", kind = "forward", mb = 0 : i64, stage = 0 : i64}> : (!pwrt.stream) -> ()
  }
}

// -----

pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    pwrt.p2p_group on %s {
      // expected-error @+1 {{stage, mb, peer, tag and slot offset+bytes must be >= 0}}
      pwrt.send activation stage 0 mb 0 to -1 tag 0 slot 0+4
    }
  }
  pwrt.rank 1 pool 0 {
  }
}

// -----

pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    pwrt.p2p_group on %s {
      // expected-error @+1 {{tag must be below 2^30}}
      pwrt.recv gradient stage 0 mb 0 from 1 tag 1073741824 slot 0+4
    }
  }
  pwrt.rank 1 pool 0 {
  }
}

// -----

pwrt.program @p ranks = 2 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    pwrt.p2p_group on %s {
      // expected-error @+1 {{payload must be activation or gradient, not "weights"}}
      "pwrt.send"() <{bytes = 4 : i64, mb = 0 : i64, offset = 0 : i64, payload = "weights", peer = 1 : i64, stage = 0 : i64, tag = 0 : i64}> : () -> ()
    }
  }
  pwrt.rank 1 pool 0 {
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    // expected-error @+1 {{all-to-all kind must be forward or backward, not 'loss'}}
    pwrt.all_to_all "x" loss stage 0 mb 0 layer 0 on %s (send = 0+8, recv = 8+8) row_bytes 8
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    // expected-error @+1 {{send slot 0+16 overlaps receive slot 8+8}}
    pwrt.all_to_all "x" forward stage 0 mb 0 layer 0 on %s (send = 0+16, recv = 8+8) row_bytes 8
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    // expected-error @+1 {{row_bytes must be positive}}
    pwrt.all_to_all "x" forward stage 0 mb 0 layer 0 on %s (send = 0+8, recv = 8+8) row_bytes 0
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "comm"
    // expected-error @+1 {{recv slot 64+64 ends past the rank's pool of 100 bytes}}
    pwrt.all_to_all "x" forward stage 0 mb 0 layer 0 on %s (send = 0+8, recv = 64+64) row_bytes 8
  }
}

// -----

pwrt.program @p ranks = 1 {
  pwrt.rank 0 pool 100 {
    %s = pwrt.stream "compute"
    // expected-error @+1 {{layer must be >= 0 (a component's), or -1 for none}}
    pwrt.launch forward "f" stage 0 mb 0 layer -2 on %s (output = 0+8)
  }
}
