// RUN: pw-opt %s -split-input-file -moe-eplb=loads-dir=%S | FileCheck %s
// RUN: pw-opt %s -split-input-file -moe-eplb='policy=refine loads-dir=%S' | FileCheck %s --check-prefix=REFINE
// RUN: pw-opt %s -split-input-file -moe-eplb='policy=no-colocated-replicas loads-dir=%S' | FileCheck %s --check-prefix=APART
// RUN: pw-opt %s -split-input-file -pass-pipeline='builtin.module(moe.expert_group(moe-eplb{loads-dir=%S},moe-eplb{policy=min-migration loads-dir=%S}))' | FileCheck %s --check-prefix=MIGRATE
// The pass is idempotent: a second run replaces the placement with itself.
// RUN: pw-opt %s -split-input-file -moe-eplb=loads-dir=%S -moe-eplb=loads-dir=%S | FileCheck %s

// The README example of DeepSeek's EPLB, reproduced exactly (phy2log and
// logcnt are the README's; log2phy lists each expert's slots by replica
// rank). Max GPU loads by hand: layer 0, GPU 6 holds experts 0 and 1 (90 +
// 132 / 2); layer 1, GPU 1 holds 6 and 8 (187 / 2 + 172 / 2). Mean: 1033 / 8
// and 1156 / 8.
// CHECK-LABEL: moe.expert_group @readme
// CHECK-NEXT:    moe.placement policy = "reference" strategy = "hierarchical"
// CHECK-SAME:      phy2log = dense<{{\[\[}}5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1], [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]> : tensor<2x16xi64>
// CHECK-SAME:      log2phy = dense<{{\[\[\[}}12, -1], [15, 13], [11, -1], [6, -1], [7, 5], [0, 2], [1, -1], [3, -1], [4, -1], [9, -1], [8, 10], [14, -1]], {{\[\[}}13, -1], [15, 11], [8, -1], [14, -1], [9, -1], [10, 12], [2, 4], [0, -1], [6, 3], [7, -1], [1, -1], [5, -1]]]> : tensor<2x12x2xi64>
// CHECK-SAME:      logcnt = dense<{{\[\[}}1, 2, 1, 1, 2, 2, 1, 1, 1, 1, 2, 1], [1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1]]> : tensor<2x12xi64>
// CHECK-SAME:      balancedness = [8.277243e-01, 8.050140e-01] max_load = [1.560000e+02, 1.795000e+02]{{$}}
// REFINE-LABEL: moe.expert_group @readme
// REFINE:         moe.placement policy = "reference,refine" strategy = "hierarchical"
// REFINE-SAME:      max_load = [1.510000e+02, 1.795000e+02]
// MIGRATE-LABEL: moe.expert_group @readme
// MIGRATE:         moe.placement policy = "reference,min-migration" strategy = "hierarchical"
// MIGRATE-SAME:      phy2log = dense<{{\[\[}}5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1], [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]>
// MIGRATE-SAME:      moved = 0
moe.expert_group @readme layers = 2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16
    loads = dense<[[90.0, 132.0, 40.0, 61.0, 104.0, 165.0, 39.0, 4.0, 73.0, 56.0, 183.0, 86.0],
                   [20.0, 107.0, 104.0, 64.0, 19.0, 197.0, 187.0, 157.0, 172.0, 86.0, 16.0, 27.0]]>
    : tensor<2x12xf32>

// -----

// The same loads from a file (relative to loads-dir; without the option,
// to the spec's directory).
// CHECK-LABEL: moe.expert_group @from_file
// CHECK-SAME:    loads_file = "Inputs/moe_readme_loads.json" {
// CHECK-NEXT:    moe.placement policy = "reference" strategy = "hierarchical"
// CHECK-SAME:      phy2log = dense<{{\[\[}}5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1], [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]>
moe.expert_group @from_file layers = 2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16
    loads_file = "Inputs/moe_readme_loads.json"

// -----

// Global (5 groups on 2 nodes), worked by hand: expert 0 gets the extra
// replica and both copies land on GPU 0 (loads 6 and 5). Without
// colocation, its second replica goes to GPU 1 (loads 5 and 6). 6 is the
// optimum here, so refine keeps the reference's placement.
// CHECK-LABEL: moe.expert_group @global
// CHECK-NEXT:    moe.placement policy = "reference" strategy = "global"
// CHECK-SAME:      phy2log = dense<{{\[\[}}0, 0, 1, 2]]> : tensor<1x4xi64>
// CHECK-SAME:      log2phy = dense<{{\[\[\[}}0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
// CHECK-SAME:      logcnt = dense<{{\[\[}}2, 1, 1]]> : tensor<1x3xi64>
// CHECK-SAME:      balancedness = [9.166667e-01] max_load = [6.000000e+00]
// APART-LABEL: moe.expert_group @global
// APART-NEXT:    moe.placement policy = "reference,no-colocated-replicas" strategy = "global"
// APART-SAME:      phy2log = dense<{{\[\[}}0, 2, 1, 0]]>
// APART-SAME:      log2phy = dense<{{\[\[\[}}0, 3], [2, -1], [1, -1]]]>
// APART-SAME:      max_load = [6.000000e+00]
// REFINE-LABEL: moe.expert_group @global
// REFINE:          phy2log = dense<{{\[\[}}0, 0, 1, 2]]>
moe.expert_group @global layers = 1 experts = 3 groups = 5 nodes = 2 gpus = 2 slots = 4
    loads = dense<[[6.0, 3.0, 2.0]]> : tensor<1x3xf32>

// -----

// Hierarchical, worked by hand in the unit tests: the reference reaches a
// maximum of 9; the best split of the groups over the nodes (14 | 15)
// allows 7.5, which refine finds.
// CHECK-LABEL: moe.expert_group @hand
// CHECK:           phy2log = dense<{{\[\[}}4, 6, 5, 5, 4, 7, 0, 0, 1, 0, 2, 3]]>
// CHECK-SAME:      max_load = [9.000000e+00]
// REFINE-LABEL: moe.expert_group @hand
// REFINE:          max_load = [7.500000e+00]
moe.expert_group @hand layers = 1 experts = 8 groups = 4 nodes = 2 gpus = 4 slots = 12
    loads = dense<[[9.0, 1.0, 2.0, 2.0, 6.0, 6.0, 3.0, 0.0]]> : tensor<1x8xf32>
