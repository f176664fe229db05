// RUN: pw-opt %s | pw-opt | FileCheck %s
// RUN: pw-opt %s -mlir-print-op-generic | pw-opt | FileCheck %s

// The README case of DeepSeek's EPLB: 12 experts in 4 groups, 16 slots on
// 2 nodes x 4 GPUs.
// CHECK-LABEL: moe.expert_group @readme layers = 2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16 loads = dense<{{\[\[}}9.000000e+01, 1.320000e+02
// CHECK-SAME:    : tensor<2x12xf32>{{$}}
moe.expert_group @readme layers = 2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16
    loads = dense<[[90.0, 132.0, 40.0, 61.0, 104.0, 165.0, 39.0, 4.0, 73.0, 56.0, 183.0, 86.0],
                   [20.0, 107.0, 104.0, 64.0, 19.0, 197.0, 187.0, 157.0, 172.0, 86.0, 16.0, 27.0]]>
    : tensor<2x12xf32>

// Loads from a file; f64 loads are fine too.
// CHECK-LABEL: moe.expert_group @from_file
// CHECK-SAME:    loads_file = "Inputs/loads.json"{{$}}
moe.expert_group @from_file layers = 2 experts = 12 groups = 4 nodes = 2 gpus = 8 slots = 16
    loads_file = "Inputs/loads.json"
// CHECK-LABEL: moe.expert_group @wide
// CHECK-SAME:    : tensor<1x3xf64>
moe.expert_group @wide layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 1 slots = 3
    loads = dense<[[1.0, 0.0, 2.5]]> : tensor<1x3xf64>

// 5 groups on 2 nodes: the global policy, where groups need not divide the
// experts (as in the reference).
// CHECK-LABEL: moe.expert_group @global
moe.expert_group @global layers = 1 experts = 3 groups = 5 nodes = 2 gpus = 2 slots = 4
    loads = dense<[[6.0, 3.0, 2.0]]> : tensor<1x3xf32> {
  // Worked by hand: expert 0 gets the extra replica; both sit on GPU 0.
  moe.placement policy = "reference" strategy = "global"
      phy2log = dense<[[0, 0, 1, 2]]> : tensor<1x4xi64>
      log2phy = dense<[[[0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [0.9166666666666666] max_load = [6.0]
}
// CHECK-NEXT:    moe.placement policy = "reference" strategy = "global" phy2log = dense<{{\[\[}}0, 0, 1, 2]]> : tensor<1x4xi64> log2phy = dense<{{\[\[\[}}0, 1], [2, -1], [3, -1]]]> : tensor<1x3x2xi64> logcnt = dense<{{\[\[}}2, 1, 1]]> : tensor<1x3xi64> balancedness = [9.166667e-01] max_load = [6.000000e+00]
// CHECK-NEXT:  }

// A migration result records how many slots changed expert.
// CHECK-LABEL: moe.expert_group @migrated
// CHECK:         moe.placement policy = "reference,min-migration" strategy = "global"
// CHECK-SAME:      moved = 2
moe.expert_group @migrated layers = 1 experts = 3 groups = 1 nodes = 1 gpus = 2 slots = 4
    loads = dense<[[6.0, 3.0, 2.0]]> : tensor<1x3xf32> {
  moe.placement policy = "reference,min-migration" strategy = "global"
      phy2log = dense<[[2, 1, 0, 0]]> : tensor<1x4xi64>
      log2phy = dense<[[[2, 3], [1, -1], [0, -1]]]> : tensor<1x3x2xi64>
      logcnt = dense<[[2, 1, 1]]> : tensor<1x3xi64>
      balancedness = [0.9166666666666666] max_load = [6.0]
      moved = 2
}
