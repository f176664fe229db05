//===- Model.cpp - the MLP of DualPipe's example, on the CPU --------------===//

#include "Model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

using namespace mlp;

Block::Block(const Shape &s)
    : w1(s.hidden * s.wide()), b1(s.wide()), w2(s.wide() * s.hidden),
      b2(s.hidden) {}

void Block::zero() {
  for (std::vector<float> *v : {&w1, &b1, &w2, &b2})
    std::fill(v->begin(), v->end(), 0.0f);
}

void mlp::fill(std::vector<float> &values, unsigned seed, float scale) {
  // A small LCG: reproducible on every rank and every platform.
  uint64_t state = 0x9E3779B97F4A7C15ull ^ (uint64_t(seed) * 0x100000001B3ull);
  for (float &value : values) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double unit = double(state >> 11) / double(1ull << 53);
    value = static_cast<float>((2 * unit - 1) * scale);
  }
}

Block mlp::initialBlock(const Shape &s, int block) {
  Block p(s);
  fill(p.w1, 1000 + 4 * block, 1.0f / std::sqrt(float(s.hidden)));
  fill(p.b1, 1001 + 4 * block, 0.1f);
  fill(p.w2, 1002 + 4 * block, 1.0f / std::sqrt(float(s.wide())));
  fill(p.b2, 1003 + 4 * block, 0.1f);
  return p;
}

std::vector<float> mlp::input(const Shape &s, int direction, int mb) {
  std::vector<float> x(s.rows * s.hidden);
  fill(x, 50000 + 1000 * direction + mb, 1.0f);
  return x;
}

std::vector<float> mlp::target(const Shape &s, int direction, int mb) {
  std::vector<float> t(s.rows * s.hidden);
  fill(t, 90000 + 1000 * direction + mb, 1.0f);
  return t;
}

static float gelu(float z) {
  return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f));
}
static float geluGrad(float z) {
  float cdf = 0.5f * (1.0f + std::erf(z * 0.70710678118654752f));
  float pdf = 0.39894228040143268f * std::exp(-0.5f * z * z);
  return cdf + z * pdf;
}

void mlp::forward(const Shape &s, const Block &p, const float *x, float *saved,
                  float *y) {
  int H = s.hidden, W = s.wide();
  float *savedX = saved, *z = saved + s.rows * H;
  std::copy(x, x + s.rows * H, savedX);
  for (int r = 0; r < s.rows; ++r)
    for (int j = 0; j < W; ++j) {
      float sum = p.b1[j];
      for (int k = 0; k < H; ++k)
        sum += x[r * H + k] * p.w1[k * W + j];
      z[r * W + j] = sum;
    }
  if (!y)
    return;
  for (int r = 0; r < s.rows; ++r)
    for (int j = 0; j < H; ++j) {
      float sum = p.b2[j];
      for (int k = 0; k < W; ++k)
        sum += gelu(z[r * W + k]) * p.w2[k * H + j];
      y[r * H + j] = sum;
    }
}

double mlp::loss(const Shape &s, const float *y, const float *t, float *dy,
                 int count) {
  int n = s.rows * s.hidden;
  double total = 0;
  for (int i = 0; i < n; ++i) {
    float diff = y[i] - t[i];
    total += double(diff) * diff;
    dy[i] = 2.0f * diff / float(n * count);
  }
  return total / (double(n) * count);
}

void mlp::backwardInput(const Shape &s, const Block &p, const float *dy,
                        const float *saved, float *dx) {
  if (!dx)
    return;
  int H = s.hidden, W = s.wide();
  const float *z = saved + s.rows * H;
  std::vector<float> dz(W);
  for (int r = 0; r < s.rows; ++r) {
    for (int k = 0; k < W; ++k) {
      float sum = 0;
      for (int j = 0; j < H; ++j)
        sum += dy[r * H + j] * p.w2[k * H + j];
      dz[k] = sum * geluGrad(z[r * W + k]);
    }
    for (int i = 0; i < H; ++i) {
      float sum = 0;
      for (int k = 0; k < W; ++k)
        sum += dz[k] * p.w1[i * W + k];
      dx[r * H + i] = sum;
    }
  }
}

void mlp::backwardWeight(const Shape &s, const Block &p, const float *dy,
                         const float *saved, Block &g) {
  int H = s.hidden, W = s.wide();
  const float *x = saved, *z = saved + s.rows * H;
  std::vector<float> dz(W);
  for (int r = 0; r < s.rows; ++r) {
    for (int k = 0; k < W; ++k) {
      float a = gelu(z[r * W + k]);
      float sum = 0;
      for (int j = 0; j < H; ++j) {
        g.w2[k * H + j] += a * dy[r * H + j];
        sum += dy[r * H + j] * p.w2[k * H + j];
      }
      dz[k] = sum * geluGrad(z[r * W + k]);
    }
    for (int j = 0; j < H; ++j)
      g.b2[j] += dy[r * H + j];
    for (int i = 0; i < H; ++i)
      for (int k = 0; k < W; ++k)
        g.w1[i * W + k] += x[r * H + i] * dz[k];
    for (int k = 0; k < W; ++k)
      g.b1[k] += dz[k];
  }
}

Reference mlp::sequentialStep(const Shape &s, int blocks, int directions,
                              int perDirection) {
  Reference ref;
  std::vector<Block> params;
  for (int b = 0; b < blocks; ++b) {
    params.push_back(initialBlock(s, b));
    ref.grads.emplace_back(s);
    ref.grads.back().zero();
  }
  int count = directions * perDirection;
  for (int d = 0; d < directions; ++d)
    for (int mb = 0; mb < perDirection; ++mb) {
      std::vector<std::vector<float>> saved(
          blocks, std::vector<float>(s.savedBytes() / sizeof(float)));
      std::vector<float> x = input(s, d, mb), y(x.size());
      for (int b = 0; b < blocks; ++b) {
        forward(s, params[b], x.data(), saved[b].data(), y.data());
        x = y;
      }
      std::vector<float> t = target(s, d, mb), dy(y.size()), dx(y.size());
      ref.loss += loss(s, y.data(), t.data(), dy.data(), count);
      for (int b = blocks - 1; b >= 0; --b) {
        backwardWeight(s, params[b], dy.data(), saved[b].data(), ref.grads[b]);
        backwardInput(s, params[b], dy.data(), saved[b].data(), dx.data());
        dy = dx;
      }
    }
  return ref;
}

double mlp::relativeDifference(const Block &a, const Block &b) {
  double worst = 0;
  const std::vector<float> *as[] = {&a.w1, &a.b1, &a.w2, &a.b2};
  const std::vector<float> *bs[] = {&b.w1, &b.b1, &b.w2, &b.b2};
  for (int t = 0; t < 4; ++t) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < bs[t]->size(); ++i) {
      diff = std::max(diff, double(std::fabs((*as[t])[i] - (*bs[t])[i])));
      scale = std::max(scale, double(std::fabs((*bs[t])[i])));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}
