// A DeepSeek-like MoE pipeline: every overlapped F&B pair joins two chunks
// of 4 MoE layers whose components cost what DeepSeek-V3's published
// training profile measured for one overlapped pair of 4-layer chunks on
// EP64 (../shared/data/deepseek_v3_train_profile.json, H800; not part of
// this repository). `pwc deepseek_like.mlir --emit=report` plans each pair
// on a compute and a communication stream and sets the plan next to
// DeepSeek's published launch order under the same costs.
//
// How the costs were derived (microseconds per layer = GPU time of the
// component's kernels over the 4 layers, / 4):
//   build/bin/pw-prof ../shared/data/deepseek_v3_train_profile.json
// attributes each GPU op to the annotation around its launch. Its table:
//   attn(F)     stream 7  (compute)  17479 us  -> attn forward          4369.75
//   mlp(F)      stream 7             18415 us  -> mlp forward           4603.75
//   mlp(B)      stream 7             21224 us  -> mlp backward_input    5306
//   mlp(W)      streams 7 + 23       14158 + 11355 us
//                                              -> mlp backward_weight   6378.25
//   attn(W)     stream 7              9554 us  -> attn backward_weight  2388.5
//   dispatch(F) stream 27 (comm)     26761 us  -> dispatch forward      6690.25
//   dispatch(B) stream 27            29947 us  -> dispatch backward     7486.75
//   combine(F)  stream 27            34736 us  -> combine forward       8684
//   combine(B)  stream 27            23077 us  -> combine backward      5769.25
//   (unattributed) stream 7, 404 ops 37363 us  -> attn backward_input   9340.75
// The 404 unattributed ops are attention's backward: autograd launches them
// from its own thread (2571) while the main thread is inside attn(B), so
// pw-prof, which looks for annotations on the launching thread, finds none;
// every one of them is launched inside the attn(B) windows. mlp(W) runs on
// two compute streams in the profile; pipeweave has one, so its two parts
// are summed. The sums are the profile's totals: compute 129548 us over the
// two compute streams, all-to-all 114521 us (pw-prof's communication busy).
//
// The expert group has DeepSeek-V3's shape (58 MoE layers of 256 routed
// experts in 8 groups, EP64 over 8 nodes, no redundant slots); the profile
// says nothing about expert loads, so they are uniform.
moe.expert_group @experts layers = 58 experts = 256 groups = 8 nodes = 8
    gpus = 64 slots = 256 loads = dense<1.0> : tensor<58x256xf32>

pipe.pipeline @deepseek_like ranks = 2 microbatches = 4 schedule = "dualpipe"
    expert_parallel = 64 {
  pipe.layers 4 {
    pipe.component "attn" compute forward = 4369.75, backward_input = 9340.75,
        backward_weight = 2388.5
    pipe.component "dispatch" all_to_all @experts forward = 6690.25,
        backward = 7486.75
    pipe.component "mlp" compute forward = 4603.75, backward_input = 5306.0,
        backward_weight = 6378.25
    pipe.component "combine" all_to_all @experts forward = 8684.0,
        backward = 5769.25
  }
}
