// One layer of attn (F 2, I 3, W 1) and an all-to-all (F 2, B 1) per stage;
// see test/Transforms/overlap-fb.mlir for the plan worked by hand.
moe.expert_group @experts layers = 2 experts = 2 groups = 1 nodes = 1 gpus = 1
    slots = 2 loads = dense<1.0> : tensor<2x2xf32>
pipe.pipeline @tiny ranks = 2 microbatches = 4 schedule = "dualpipe" {
  pipe.layers 1 {
    pipe.component "attn" compute forward = 2.0, backward_input = 3.0,
        backward_weight = 1.0
    pipe.component "a2a" all_to_all @experts forward = 2.0, backward = 1.0
  }
}
