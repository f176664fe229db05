// RUN: pw-opt %s -split-input-file -verify-diagnostics

// The reference's rules, named by attribute.

// expected-error @+1 {{'moe.expert_group' op slots (15) must be a multiple of gpus (8)}}
moe.expert_group @a layers = 1 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 15 loads_file = "x.json"

// -----

// expected-error @+1 {{slots (8) must be at least the number of experts (12)}}
moe.expert_group @a layers = 1 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 8 loads_file = "x.json"

// -----

// 5 nodes divide 5 groups, so the hierarchical rules apply.
// expected-error @+1 {{groups (5) must divide the number of experts (12)}}
moe.expert_group @a layers = 1 experts = 12 groups = 5 nodes = 5 gpus = 5 slots = 15 loads_file = "x.json"

// -----

// expected-error @+1 {{gpus (6) must be a multiple of nodes (4)}}
moe.expert_group @a layers = 1 experts = 12 groups = 4 nodes = 4 gpus = 6 slots = 12 loads_file = "x.json"

// -----

// expected-error @+1 {{nodes: the number of nodes must be at least 1 (got 0)}}
moe.expert_group @a layers = 1 experts = 12 groups = 4 nodes = 0 gpus = 8 slots = 16 loads_file = "x.json"

// -----

// expected-error @+1 {{layers: the number of layers must be at least 1 (got -2)}}
moe.expert_group @a layers = -2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16 loads_file = "x.json"

// -----

// Loads: finite and non-negative, one per layer and expert.

// expected-error @+1 {{loads[1][2] must be a finite, non-negative load (got -1)}}
moe.expert_group @a layers = 2 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<[[1.0, 2.0, 3.0], [1.0, 2.0, -1.0]]> : tensor<2x3xf32>

// -----

// expected-error @+1 {{loads[0][1] must be a finite, non-negative load (got nan)}}
moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<[[1.0, 0x7FC00000, 3.0]]> : tensor<1x3xf32>

// -----

// expected-error @+1 {{loads[0][0] must be a finite, non-negative load (got inf)}}
moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<[[0x7F800000, 1.0, 3.0]]> : tensor<1x3xf32>

// -----

// expected-error @+1 {{loads must be a dense tensor of floats with 2 layers x 3 experts; got 'tensor<2x4xf32>'}}
moe.expert_group @a layers = 2 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<1.0> : tensor<2x4xf32>

// -----

// expected-error @+1 {{loads must be a dense tensor of floats with 1 layers x 3 experts; got 'tensor<1x3xi32>'}}
moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<[[1, 2, 3]]> : tensor<1x3xi32>

// -----

// expected-error @+1 {{has both loads and loads_file; give one}}
moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<1.0> : tensor<1x3xf32> loads_file = "x.json"

// -----

// expected-error @+1 {{needs the experts' loads}}
moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3

// -----

// Placements must fit their group and be consistent.

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{phy2log must have shape 1 x 4 (layers x slots) for @a; got 'tensor<1x3xi64>'}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 1, 2]]> : tensor<1x3xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{is inconsistent: layer 0 expert 2 has no replica}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 1]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, 3], [-1, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 2, 0]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{is inconsistent: layer 0 expert 0: log2phy rank 1 names slot 2, which is not its replica}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 2], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{is inconsistent: layer 0 expert 1: logcnt 2 but 1 slots in phy2log}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 2, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{unknown policy 'greedy'}}
  moe.placement policy = "greedy" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{strategy must be "hierarchical" or "global" (got "local")}}
  moe.placement policy = "reference" strategy = "local"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-error @+1 {{balancedness has 2 entries; expected one per layer (1)}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0, 1.0] max_load = [6.0]
}

// -----

moe.expert_group @a layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4 loads_file = "x.json" {
  // expected-note @+1 {{first placement is here}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
  // expected-error @+1 {{is the second placement of @a; keep one}}
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [1.0] max_load = [6.0]
}

// -----

// expected-error @+1 {{'moe.placement' op expects parent op 'moe.expert_group'}}
moe.placement policy = "reference" strategy = "global"
    phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
    log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
    logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
    balancedness = [1.0] max_load = [6.0]
