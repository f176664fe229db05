// RUN: pw-opt %s -split-input-file -moe-eplb=loads-dir=%S -verify-diagnostics
// RUN: not pw-opt %s -split-input-file -moe-eplb='policy=min-migration loads-dir=%S' 2>&1 | FileCheck %s --check-prefix=MIGRATE
// RUN: not pw-opt %s -split-input-file -moe-eplb='policy=no-colocated-replicas loads-dir=%S' 2>&1 | FileCheck %s --check-prefix=APART
// RUN: not pw-opt %s -split-input-file -moe-eplb='policy=hierarchical loads-dir=%S' 2>&1 | FileCheck %s --check-prefix=FORCED
// RUN: not pw-opt %s -split-input-file -moe-eplb=policy=greedy 2>&1 | FileCheck %s --check-prefix=POLICY

// Loads files: missing, the wrong shape, bad values.

// expected-error @+1 {{Inputs/does-not-exist.json': No such file or directory}}
moe.expert_group @missing layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads_file = "Inputs/does-not-exist.json"

// -----

// expected-error @+1 {{loads_file 'Inputs/moe_readme_loads.json' has 2 layers x 12 experts, but @narrow has 2 layers x 8 experts}}
moe.expert_group @narrow layers = 2 experts = 8 groups = 4 nodes = 2 gpus = 8 slots = 16
    loads_file = "Inputs/moe_readme_loads.json"

// -----

// expected-error @+1 {{cannot balance @negative with policy 'reference': loads[0][1] must be a finite, non-negative load (got -2)}}
moe.expert_group @negative layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads_file = "Inputs/moe_negative_loads.json"

// -----

// expected-error @+1 {{loads_file of @ragged: loads[1] has 2 loads; expected 3 like loads[0]}}
moe.expert_group @ragged layers = 2 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads_file = "Inputs/moe_ragged_loads.json"

// -----

// Fine for the reference; policies that cannot apply say why.
// MIGRATE: error: policy 'min-migration' needs the previous placement of @two in its body (run --moe-eplb without it first)
// APART: error: cannot balance @two with policy 'reference,no-colocated-replicas': slots (4) puts 4 slots on each GPU, but no-colocated-replicas can fill at most 2 without two replicas of one expert on a GPU
// POLICY: error: moe-eplb: unknown policy 'greedy'; expected a comma-separated list of: reference, hierarchical, global, refine, no-colocated-replicas, min-migration
moe.expert_group @two layers = 1 experts = 2 groups = 1 nodes = 1 gpus = 1 slots = 4
    loads = dense<[[3.0, 1.0]]> : tensor<1x2xf32>

// -----

// FORCED: error: cannot balance @five with policy 'hierarchical': groups (5) must be a multiple of nodes (2) for the hierarchical policy
moe.expert_group @five layers = 1 experts = 3 groups = 5 nodes = 2 gpus = 2 slots = 4
    loads = dense<[[6.0, 3.0, 2.0]]> : tensor<1x3xf32>
