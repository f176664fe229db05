//===- Model.cpp - a small Mixture-of-Experts model, on the CPU -----------===//

#include "Model.h"

#include "passes/Eplb/Eplb.h"

#include <algorithm>
#include <cmath>

using namespace moe;

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

Attention::Attention(const Shape &s)
    : wa(s.hidden * s.hidden), ba(s.hidden), wr(s.hidden * s.experts) {}

void Attention::zero() {
  for (std::vector<float> *v : {&wa, &ba, &wr})
    std::fill(v->begin(), v->end(), 0.0f);
}

Expert::Expert(const Shape &s)
    : w1(s.hidden * s.ffn), b1(s.ffn), w2(s.ffn * s.hidden), b2(s.hidden) {}

void Expert::zero() {
  for (std::vector<float> *v : {&w1, &b1, &w2, &b2})
    std::fill(v->begin(), v->end(), 0.0f);
}

void Expert::add(const Expert &other) {
  std::vector<float> *mine[] = {&w1, &b1, &w2, &b2};
  const std::vector<float> *theirs[] = {&other.w1, &other.b1, &other.w2,
                                        &other.b2};
  for (int t = 0; t < 4; ++t)
    for (size_t i = 0; i < mine[t]->size(); ++i)
      (*mine[t])[i] += (*theirs[t])[i];
}

Layer::Layer(const Shape &s) : attention(s), experts(s.experts, Expert(s)) {}

void Layer::zero() {
  attention.zero();
  for (Expert &expert : experts)
    expert.zero();
}

namespace {

/// Deterministic values in [-scale, scale): a small LCG, reproducible on
/// every process and platform.
void fill(std::vector<float> &values, unsigned seed, float scale) {
  uint64_t state = 0x9E3779B97F4A7C15ull ^ (uint64_t(seed) * 0x100000001B3ull);
  for (float &value : values) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double unit = double(state >> 11) / double(1ull << 53);
    value = static_cast<float>((2 * unit - 1) * scale);
  }
}

float gelu(float z) {
  return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f));
}

float geluGrad(float z) {
  float cdf = 0.5f * (1.0f + std::erf(z * 0.70710678118654752f));
  float pdf = 0.39894228040143268f * std::exp(-0.5f * z * z);
  return cdf + z * pdf;
}

} // namespace

std::vector<Layer> moe::initialModel(const Shape &s) {
  std::vector<Layer> model;
  for (int l = 0; l < s.layers(); ++l) {
    Layer layer(s);
    unsigned seed = 1000 + 100 * unsigned(l);
    fill(layer.attention.wa, seed, 1.0f / std::sqrt(float(s.hidden)));
    fill(layer.attention.ba, seed + 1, 0.1f);
    // Logits of a few units: the router prefers experts clearly.
    fill(layer.attention.wr, seed + 2, 1.0f);
    for (int e = 0; e < s.experts; ++e) {
      Expert &expert = layer.experts[size_t(e)];
      unsigned base = seed + 10 + 4 * unsigned(e);
      fill(expert.w1, base, 1.0f / std::sqrt(float(s.hidden)));
      fill(expert.b1, base + 1, 0.1f);
      fill(expert.w2, base + 2, 1.0f / std::sqrt(float(s.ffn)));
      fill(expert.b2, base + 3, 0.1f);
    }
    model.push_back(std::move(layer));
  }
  return model;
}

std::vector<float> moe::input(const Shape &s, int microbatch) {
  std::vector<float> x(size_t(s.microbatchTokens() * s.hidden));
  fill(x, 50000 + unsigned(microbatch), 1.0f);
  return x;
}

std::vector<float> moe::target(const Shape &s, int microbatch) {
  std::vector<float> t(size_t(s.microbatchTokens() * s.hidden));
  fill(t, 90000 + unsigned(microbatch), 1.0f);
  return t;
}

//===----------------------------------------------------------------------===//
// One token
//===----------------------------------------------------------------------===//

void moe::attentionForward(const Shape &s, const Attention &p, const float *x,
                           float *u, float *a) {
  int H = s.hidden;
  for (int j = 0; j < H; ++j) {
    float sum = p.ba[j];
    for (int i = 0; i < H; ++i)
      sum += x[i] * p.wa[i * H + j];
    u[j] = sum;
    a[j] = x[j] + std::tanh(sum);
  }
}

void moe::route(const Shape &s, const Attention &p, const float *a,
                float *probs, int32_t *top, float *gates) {
  int H = s.hidden, X = s.experts;
  float largest = -INFINITY;
  for (int e = 0; e < X; ++e) {
    float logit = 0;
    for (int j = 0; j < H; ++j)
      logit += a[j] * p.wr[j * X + e];
    probs[e] = logit;
    largest = std::max(largest, logit);
  }
  float total = 0;
  for (int e = 0; e < X; ++e) {
    probs[e] = std::exp(probs[e] - largest);
    total += probs[e];
  }
  for (int e = 0; e < X; ++e)
    probs[e] /= total;
  for (int k = 0; k < s.topk; ++k) {
    int best = -1;
    for (int e = 0; e < X; ++e) {
      if (std::find(top, top + k, e) != top + k)
        continue;
      if (best < 0 || probs[e] > probs[best])
        best = e;
    }
    top[k] = best;
    gates[k] = probs[best];
  }
}

void moe::expertForward(const Shape &s, const Expert &p, const float *a,
                        float *z, float *o) {
  int H = s.hidden, F = s.ffn;
  for (int f = 0; f < F; ++f) {
    float sum = p.b1[f];
    for (int j = 0; j < H; ++j)
      sum += a[j] * p.w1[j * F + f];
    z[f] = sum;
  }
  for (int j = 0; j < H; ++j) {
    float sum = p.b2[j];
    for (int f = 0; f < F; ++f)
      sum += gelu(z[f]) * p.w2[f * H + j];
    o[j] = sum;
  }
}

void moe::expertBackwardInput(const Shape &s, const Expert &p, const float *z,
                              const float *dout, float *da) {
  int H = s.hidden, F = s.ffn;
  std::vector<float> dz(static_cast<size_t>(F));
  for (int f = 0; f < F; ++f) {
    float sum = 0;
    for (int j = 0; j < H; ++j)
      sum += dout[j] * p.w2[f * H + j];
    dz[size_t(f)] = sum * geluGrad(z[f]);
  }
  for (int j = 0; j < H; ++j) {
    float sum = 0;
    for (int f = 0; f < F; ++f)
      sum += dz[size_t(f)] * p.w1[j * F + f];
    da[j] = sum;
  }
}

void moe::expertBackwardWeight(const Shape &s, const Expert &p, const float *a,
                               const float *z, const float *dout, Expert &g) {
  int H = s.hidden, F = s.ffn;
  for (int f = 0; f < F; ++f) {
    float h = gelu(z[f]);
    float sum = 0;
    for (int j = 0; j < H; ++j) {
      g.w2[f * H + j] += h * dout[j];
      sum += dout[j] * p.w2[f * H + j];
    }
    float dz = sum * geluGrad(z[f]);
    for (int j = 0; j < H; ++j)
      g.w1[j * F + f] += a[j] * dz;
    g.b1[f] += dz;
  }
  for (int j = 0; j < H; ++j)
    g.b2[j] += dout[j];
}

void moe::routerBackward(const Shape &s, const Attention &p, const float *probs,
                         const int32_t *top, const float *dgates,
                         float *dlogits, float *da) {
  int H = s.hidden, X = s.experts;
  std::vector<float> dprobs(size_t(X), 0.0f);
  for (int k = 0; k < s.topk; ++k)
    dprobs[size_t(top[k])] += dgates[k];
  float weighted = 0;
  for (int e = 0; e < X; ++e)
    weighted += probs[e] * dprobs[size_t(e)];
  for (int e = 0; e < X; ++e)
    dlogits[e] = probs[e] * (dprobs[size_t(e)] - weighted);
  for (int j = 0; j < H; ++j) {
    float sum = 0;
    for (int e = 0; e < X; ++e)
      sum += dlogits[e] * p.wr[j * X + e];
    da[j] += sum;
  }
}

void moe::attentionBackwardInput(const Shape &s, const Attention &p,
                                 const float *u, const float *da, float *du,
                                 float *dx) {
  int H = s.hidden;
  for (int j = 0; j < H; ++j) {
    float t = std::tanh(u[j]);
    du[j] = da[j] * (1.0f - t * t);
  }
  for (int i = 0; i < H; ++i) {
    float sum = da[i];
    for (int j = 0; j < H; ++j)
      sum += du[j] * p.wa[i * H + j];
    dx[i] = sum;
  }
}

void moe::attentionBackwardWeight(const Shape &s, const float *x,
                                  const float *a, const float *du,
                                  const float *dlogits, Attention &g) {
  int H = s.hidden, X = s.experts;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < H; ++j)
      g.wa[i * H + j] += x[i] * du[j];
  for (int j = 0; j < H; ++j)
    g.ba[j] += du[j];
  for (int j = 0; j < H; ++j)
    for (int e = 0; e < X; ++e)
      g.wr[j * X + e] += a[j] * dlogits[e];
}

void moe::combineForward(const Shape &s, const float *a, const float *gates,
                         const float *const *outputs, float *y) {
  for (int j = 0; j < s.hidden; ++j) {
    float sum = a[j];
    for (int k = 0; k < s.topk; ++k)
      sum += gates[k] * outputs[k][j];
    y[j] = sum;
  }
}

void moe::combineBackwardGates(const Shape &s, const float *dy,
                               const float *const *outputs, float *dgates) {
  for (int k = 0; k < s.topk; ++k) {
    float sum = 0;
    for (int j = 0; j < s.hidden; ++j)
      sum += dy[j] * outputs[k][j];
    dgates[k] = sum;
  }
}

double moe::lossRow(const Shape &s, const float *y, const float *t, float *dy,
                    double count) {
  double total = 0;
  for (int j = 0; j < s.hidden; ++j) {
    float diff = y[j] - t[j];
    total += double(diff) * diff;
    dy[j] = float(2.0 * diff / count);
  }
  return total / count;
}

//===----------------------------------------------------------------------===//
// Placement
//===----------------------------------------------------------------------===//

int Placement::expertOf(const Shape &s, int layer, int slot) const {
  return int(phy2log[size_t(layer * s.slots + slot)]);
}

int Placement::slotFor(const Shape &s, int layer, int expert, int token) const {
  size_t index = size_t(layer * s.experts + expert);
  int64_t replicas = logcnt[index];
  return int(log2phy[index * size_t(maxReplicas) + size_t(token % replicas)]);
}

bool moe::placeExperts(const Shape &s, const std::vector<double> &loads,
                       Placement &placement, std::string &error) {
  namespace eplb = pipeweave::eplb;
  eplb::EplbProblem problem;
  problem.numLayers = s.layers();
  problem.numExperts = s.experts;
  problem.loads = loads;
  problem.numReplicas = s.slots;
  problem.numGroups = 1;
  problem.numNodes = 1;
  problem.numGpus = s.parallel; // a "GPU" is an expert-parallel index
  eplb::PolicyOptions options;
  if (auto problemError =
          eplb::checkProblem(problem, options, eplb::kReferenceFieldNames)) {
    error = problemError->message;
    return false;
  }
  eplb::Placement solved = eplb::rebalanceExperts(problem, options);
  placement.maxReplicas = int(solved.maxReplicas);
  placement.phy2log = solved.phy2log;
  placement.logcnt = solved.logcnt;
  placement.log2phy = solved.log2phy;
  return true;
}

//===----------------------------------------------------------------------===//
// Reference
//===----------------------------------------------------------------------===//

Reference moe::sequentialStep(const Shape &s, const std::vector<Layer> &model) {
  int N = s.microbatchTokens(), H = s.hidden, F = s.ffn, X = s.experts,
      K = s.topk, L = s.layers();
  Reference ref;
  ref.grads.assign(size_t(L), Layer(s));
  for (Layer &layer : ref.grads)
    layer.zero();
  ref.loads.assign(size_t(L * X), 0.0);
  double count = double(s.microbatches) * N * H;

  // What one layer keeps for its backward, for all tokens of a micro-batch.
  struct Saved {
    std::vector<float> x, u, a, probs, gates, z, o;
    std::vector<int32_t> top;
  };
  for (int mb = 0; mb < s.microbatches; ++mb) {
    std::vector<Saved> saved(static_cast<size_t>(L));
    std::vector<float> x = input(s, mb), y(x.size());
    for (int l = 0; l < L; ++l) {
      const Layer &p = model[size_t(l)];
      Saved &m = saved[size_t(l)];
      m.x = x;
      m.u.resize(size_t(N * H));
      m.a.resize(size_t(N * H));
      m.probs.resize(size_t(N * X));
      m.gates.resize(size_t(N * K));
      m.top.resize(size_t(N * K));
      m.z.resize(size_t(N * K * F));
      m.o.resize(size_t(N * K * H));
      for (int i = 0; i < N; ++i) {
        attentionForward(s, p.attention, &m.x[i * H], &m.u[i * H], &m.a[i * H]);
        route(s, p.attention, &m.a[i * H], &m.probs[i * X], &m.top[i * K],
              &m.gates[i * K]);
        for (int k = 0; k < K; ++k) {
          int expert = m.top[i * K + k];
          ref.loads[size_t(l * X + expert)] += 1;
          expertForward(s, p.experts[size_t(expert)], &m.a[i * H],
                        &m.z[(i * K + k) * F], &m.o[(i * K + k) * H]);
        }
        std::vector<const float *> outputs;
        for (int k = 0; k < K; ++k)
          outputs.push_back(&m.o[(i * K + k) * H]);
        combineForward(s, &m.a[i * H], &m.gates[i * K], outputs.data(),
                       &y[i * H]);
      }
      x = y;
    }
    std::vector<float> t = target(s, mb), dy(x.size()), dx(x.size());
    for (int i = 0; i < N; ++i)
      ref.loss += lossRow(s, &x[i * H], &t[i * H], &dy[i * H], count);

    std::vector<float> da(static_cast<size_t>(H)), du(static_cast<size_t>(H)),
        dlogits(static_cast<size_t>(X)), dout(static_cast<size_t>(H)),
        daExpert(static_cast<size_t>(H));
    std::vector<float> dgates(static_cast<size_t>(K));
    for (int l = L - 1; l >= 0; --l) {
      const Layer &p = model[size_t(l)];
      Layer &g = ref.grads[size_t(l)];
      const Saved &m = saved[size_t(l)];
      for (int i = 0; i < N; ++i) {
        const float *dyRow = &dy[i * H];
        // Combine backward: the gates' gradients, then the router's.
        std::vector<const float *> outputs;
        for (int k = 0; k < K; ++k)
          outputs.push_back(&m.o[(i * K + k) * H]);
        combineBackwardGates(s, dyRow, outputs.data(), dgates.data());
        std::copy(dyRow, dyRow + H, da.begin());
        routerBackward(s, p.attention, &m.probs[i * X], &m.top[i * K],
                       dgates.data(), dlogits.data(), da.data());
        // Experts: dout = gate * dy.
        for (int k = 0; k < K; ++k) {
          int expert = m.top[i * K + k];
          for (int j = 0; j < H; ++j)
            dout[size_t(j)] = m.gates[i * K + k] * dyRow[j];
          const float *z = &m.z[(i * K + k) * F];
          expertBackwardInput(s, p.experts[size_t(expert)], z, dout.data(),
                              daExpert.data());
          expertBackwardWeight(s, p.experts[size_t(expert)], &m.a[i * H], z,
                               dout.data(), g.experts[size_t(expert)]);
          for (int j = 0; j < H; ++j)
            da[size_t(j)] += daExpert[size_t(j)];
        }
        attentionBackwardInput(s, p.attention, &m.u[i * H], da.data(),
                               du.data(), &dx[i * H]);
        attentionBackwardWeight(s, &m.x[i * H], &m.a[i * H], du.data(),
                                dlogits.data(), g.attention);
      }
      dy = dx;
    }
  }
  return ref;
}

double moe::relativeDifference(const std::vector<float> &a,
                               const std::vector<float> &b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

double moe::relativeDifference(const Layer &a, const Layer &b) {
  double worst = std::max({relativeDifference(a.attention.wa, b.attention.wa),
                           relativeDifference(a.attention.ba, b.attention.ba),
                           relativeDifference(a.attention.wr, b.attention.wr)});
  for (size_t e = 0; e < b.experts.size(); ++e) {
    const Expert &x = a.experts[e], &y = b.experts[e];
    worst = std::max(
        {worst, relativeDifference(x.w1, y.w1), relativeDifference(x.b1, y.b1),
         relativeDifference(x.w2, y.w2), relativeDifference(x.b2, y.b2)});
  }
  return worst;
}
