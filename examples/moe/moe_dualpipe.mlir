// The MoE example's step as a pipeweave spec: DualPipe on 4 pipeline ranks x
// 2 expert-parallel processes (8 processes), 8 micro-batches (4 per
// direction), each stage 2 MoE layers of five components. pwc compiles it
// (examples/moe/CMakeLists.txt: `pwc moe_dualpipe.mlir -o moe_dualpipe`)
// and `moe --program compiled` runs the result; `moe` without it runs
// Program.cpp, which issues the same rule by hand (runtime/README.md,
// "Component launches"). `row_bytes` / `rows` on the all-to-all components
// size their slots.
//
// Model (Model.h, Shape): H = 16, expert inner width F = 32, 4 logical
// experts, top-2, 6 expert slots per layer (3 per process), T = 8 tokens per
// micro-batch per process, fp32. DualPipe's stages 0..3 and 4..7 are the
// model's 4 chunks of 2 layers, once per direction (rank r holds stages r and
// 7-r, i.e. chunks r and 3-r), so the expert group places 8 layers: stage s,
// layer l runs model layer (s mod 4) * 2 + l.
//
// Sizes:
//  - activation_bytes = T * H * 4 = 512: one process's share of a
//    micro-batch's activation (or gradient) between stages.
//  - activation_memory = 12480: what a stage's forward keeps per micro-batch
//    in the kernels' state, 2 layers of (token side 3024 bytes: x, u, a
//    (3 * T * H floats), router probabilities (T * 4), gates (T * 2),
//    expert outputs (T * 2 * H floats), 4 int32 per (token, k), 2 int64
//    counts; expert side 3216 bytes at the balanced T * 2 = 16 rows: a
//    (16 * H), z (16 * F) floats, slot and token per row, 2 int64 counts).
//  - all-to-alls: a dispatch row is int32 slot, int32 token, H floats = 72
//    bytes in both directions (backward rows carry the gradient under the
//    same header); a combine row is H floats = 64 bytes. rows = E * T * k =
//    2 * 8 * 2 = 32, every (token, k) row of the group: nothing stops the
//    router from sending all of them to one process's slots. A slot is
//    8 * E + rows * row_bytes bytes: 2320 (dispatch), 2064 (combine); each
//    all-to-all has one send and one receive slot per action and chain.
//
// Costs are microseconds, the medians of the runtime trace of the example on
// the host backend (3 runs of `PW_TRACE=t.json mpirun -np 8 moe`, 384
// launches of each kernel and 384 all-to-alls of each kind per run) on the
// 2-core build machine with 8 processes: all-to-all times there include
// waiting for the peer, which is why they dwarf the kernels; moe_mlp_fwd's
// GELU inside its inner loop makes it 4x the backward for input.
//
// Kernels: one per compute component and part, registered once, reading
// args->stage (global) and args->layer (Kernels.h); moe_loss runs after the
// forward of each direction's last stage (3 and 7).
moe.expert_group @experts layers = 8 experts = 4 groups = 1 nodes = 1 gpus = 2
    slots = 6
    loads = dense<[[50.0, 70.0, 60.0, 76.0], [62.0, 64.0, 72.0, 58.0],
                   [50.0, 71.0, 73.0, 62.0], [66.0, 53.0, 71.0, 66.0],
                   [60.0, 86.0, 55.0, 55.0], [50.0, 53.0, 84.0, 69.0],
                   [60.0, 73.0, 71.0, 52.0], [63.0, 84.0, 63.0, 46.0]]>
        : tensor<8x4xf32>
// The loads are the router's token counts per layer and expert over the
// step's 8 micro-batches (`moe --print-loads`; the ctest
// examples/moe/spec-loads keeps them equal), from which moe.cpp's EPLB
// places the replicas: the same problem, so the same placement.

pipe.pipeline @moe_dualpipe ranks = 4 microbatches = 8 schedule = "dualpipe"
    expert_parallel = 2 {
  pipe.tensor activation_bytes = 512, activation_memory = 12480
  pipe.kernels loss = "moe_loss"
  pipe.layers 2 {
    // Attention stand-in, router, dispatch pack.
    pipe.component "attn" compute forward = 15.0, backward_input = 7.6,
        backward_weight = 3.4
        kernels forward = "moe_attn_fwd", backward_input = "moe_attn_bwd_in",
                backward_weight = "moe_attn_bwd_w"
    pipe.component "dispatch" all_to_all @experts forward = 280.0,
        backward = 200.0, row_bytes = 72, rows = 32
    // The experts of this process's slots.
    pipe.component "mlp" compute forward = 96.0, backward_input = 23.0,
        backward_weight = 36.0
        kernels forward = "moe_mlp_fwd", backward_input = "moe_mlp_bwd_in",
                backward_weight = "moe_mlp_bwd_w"
    pipe.component "combine" all_to_all @experts forward = 300.0,
        backward = 230.0, row_bytes = 64, rows = 32
    // y = a + sum_k gate_k * expert_k(a); backward: the gates' and router's
    // gradients. No weights: no backward_weight kernel.
    pipe.component "unpack" compute forward = 3.4, backward_input = 4.1
        kernels forward = "moe_unpack_fwd",
                backward_input = "moe_unpack_bwd_in"
  }
}
