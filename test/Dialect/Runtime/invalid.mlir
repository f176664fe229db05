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
