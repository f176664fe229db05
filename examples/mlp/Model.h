//===- Model.h - the MLP of DualPipe's example, on the CPU ------*- C++ -*-===//
//
// Each pipeline stage is one block: linear (H -> 4H) -> GELU -> linear
// (4H -> H), fp32; the loss is the mean squared error against a target.
// Everything is deterministic from the block and micro-batch numbers, so
// every rank can also compute the sequential reference on its own.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_EXAMPLES_MLP_MODEL_H
#define PIPEWEAVE_EXAMPLES_MLP_MODEL_H

#include <cstddef>
#include <vector>

namespace mlp {

struct Shape {
  int hidden = 32; // H
  int rows = 8;    // tokens per micro-batch
  int wide() const { return 4 * hidden; }
  size_t activationBytes() const { return sizeof(float) * rows * hidden; }
  /// What a forward keeps for its backward: the input x and z = x W1 + b1.
  size_t savedBytes() const { return sizeof(float) * rows * (hidden + wide()); }
};

/// Parameters of one block, or their gradients.
struct Block {
  std::vector<float> w1, b1, w2, b2; // [H x 4H], [4H], [4H x H], [H]
  explicit Block(const Shape &shape = Shape());
  void zero();
};

/// Deterministic values in [-scale, scale).
void fill(std::vector<float> &values, unsigned seed, float scale);
Block initialBlock(const Shape &shape, int block);
std::vector<float> input(const Shape &shape, int direction, int microbatch);
std::vector<float> target(const Shape &shape, int direction, int microbatch);

// The kernels' arithmetic, on raw pointers into the runtime's buffers.
// x: [rows x H]; saved: x then z [rows x 4H]; y, dy, dx: [rows x H].
void forward(const Shape &s, const Block &p, const float *x, float *saved,
             float *y);
/// MSE of y against t, scaled by 1/`count` micro-batches; writes dy and
/// returns the loss contribution.
double loss(const Shape &s, const float *y, const float *t, float *dy,
            int count);
void backwardInput(const Shape &s, const Block &p, const float *dy,
                   const float *saved, float *dx);
void backwardWeight(const Shape &s, const Block &p, const float *dy,
                    const float *saved, Block &grad);

/// The unpipelined step: every micro-batch of every direction through all
/// `blocks` blocks in order, accumulating per-block gradients and the loss.
struct Reference {
  std::vector<Block> grads;
  double loss = 0;
};
Reference sequentialStep(const Shape &shape, int blocks, int directions,
                         int microbatchesPerDirection);

/// max |a - b| / max |b| over all parameters of `a` and `b`.
double relativeDifference(const Block &a, const Block &b);

} // namespace mlp

#endif // PIPEWEAVE_EXAMPLES_MLP_MODEL_H
