// PCA (power iteration + Rayleigh–Ritz) and symmetric FastICA (see linear_codes.h).
#include "objectives/metrics/linear_codes.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/check.h"
#include "ops/ops.h"

namespace unravel {

void jacobi_eigen(std::vector<double> a, int k, std::vector<double>& vals, std::vector<double>& vecs) {
  UNRAVEL_CHECK(k >= 1 && a.size() == static_cast<size_t>(k) * k,
                "jacobi_eigen: expected a {}x{} matrix, got {} values", k, k, a.size());
  vecs.assign(static_cast<size_t>(k) * k, 0.0);
  for (int i = 0; i < k; ++i) vecs[i * k + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, diag = 0;
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) (i == j ? diag : off) += a[i * k + j] * a[i * k + j];
    if (off <= 1e-30 * std::max(diag, 1e-300)) break;
    for (int p = 0; p < k; ++p)
      for (int q = p + 1; q < k; ++q) {
        double apq = a[p * k + q];
        if (std::abs(apq) < 1e-300) continue;
        double theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int r = 0; r < k; ++r) {  // A ← A J (columns p, q)
          double arp = a[r * k + p], arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (int r = 0; r < k; ++r) {  // A ← Jᵀ A (rows p, q)
          double apr = a[p * k + r], aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (int r = 0; r < k; ++r) {  // V ← V J
          double vrp = vecs[r * k + p], vrq = vecs[r * k + q];
          vecs[r * k + p] = c * vrp - s * vrq;
          vecs[r * k + q] = s * vrp + c * vrq;
        }
      }
  }
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return a[x * k + x] > a[y * k + y]; });
  std::vector<double> v2(static_cast<size_t>(k) * k);
  vals.resize(k);
  for (int j = 0; j < k; ++j) {
    vals[j] = a[order[j] * k + order[j]];
    for (int r = 0; r < k; ++r) v2[r * k + j] = vecs[r * k + order[j]];
  }
  vecs = std::move(v2);
}

namespace {

/// Gram–Schmidt on the columns of v [P, k] (row-major), twice for stability.
void orthonormalise(std::vector<double>& v, int64_t P, int64_t k) {
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t i = 0; i < j; ++i) {
        double d = 0;
        for (int64_t r = 0; r < P; ++r) d += v[r * k + i] * v[r * k + j];
        for (int64_t r = 0; r < P; ++r) v[r * k + j] -= d * v[r * k + i];
      }
      double n = 0;
      for (int64_t r = 0; r < P; ++r) n += v[r * k + j] * v[r * k + j];
      n = std::sqrt(std::max(n, 1e-300));
      for (int64_t r = 0; r < P; ++r) v[r * k + j] /= n;
    }
}

Tensor flat_f32(const Tensor& x) {
  return contiguous(to(reshape(x, Shape{x.size(0), x.numel() / std::max<int64_t>(x.size(0), 1)}),
                       DType::f32));
}

}  // namespace

LinearCode fit_pca(const Tensor& items, int64_t k, Generator& gen, int max_iter, double tol) {
  NoGradGuard ng;
  Tensor x = flat_f32(items);
  const int64_t n = x.size(0), P = x.size(1);
  UNRAVEL_CHECK(k >= 1 && k <= P && n >= 2, "fit_pca: need 1 <= k <= {} features and n >= 2, got "
                "k = {}, n = {}", P, k, n);
  Tensor m = mean(x, {0});
  Tensor xc = contiguous(x - m);
  Tensor xct = contiguous(transpose(xc, 0, 1));
  std::vector<double> v(static_cast<size_t>(P) * k);
  for (double& e : v) e = gen.normal();
  orthonormalise(v, P, k);
  LinearCode out;
  std::vector<double> prev_vals(k, 0.0);
  for (int it = 0; it < max_iter; ++it) {
    Tensor vt = Tensor::from_vector(std::vector<float>(v.begin(), v.end()), Shape{P, k});
    std::vector<float> y = matmul(xct, matmul(xc, vt)).to_vector<float>();  // n·C·V
    double change = 0;
    for (int64_t j = 0; j < k; ++j) {  // Rayleigh quotients as a convergence measure
      double num = 0;
      for (int64_t r = 0; r < P; ++r) num += v[r * k + j] * y[r * k + j];
      num /= double(n);
      change = std::max(change, std::abs(num - prev_vals[j]) / std::max(std::abs(num), 1e-12));
      prev_vals[j] = num;
    }
    v.assign(y.begin(), y.end());
    orthonormalise(v, P, k);
    out.iterations = it + 1;
    if (it > 2 && change < tol) break;
  }
  // Rayleigh–Ritz: B = (Xc V)ᵀ (Xc V) / n, diagonalised by Jacobi.
  Tensor vt = Tensor::from_vector(std::vector<float>(v.begin(), v.end()), Shape{P, k});
  Tensor xv = matmul(xc, vt);
  std::vector<float> b = matmul(transpose(xv, 0, 1), xv).to_vector<float>();
  std::vector<double> bd(b.begin(), b.end()), vals, vecs;
  for (double& e : bd) e /= double(n);
  jacobi_eigen(bd, static_cast<int>(k), vals, vecs);
  std::vector<float> proj(static_cast<size_t>(P) * k, 0.0f);
  for (int64_t r = 0; r < P; ++r)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += v[r * k + i] * vecs[i * k + j];
      proj[r * k + j] = static_cast<float>(s / std::sqrt(std::max(vals[j], 1e-12)));
    }
  out.mean = contiguous(m);
  out.proj = Tensor::from_vector(proj, Shape{P, k});
  out.eigenvalues = vals;
  return out;
}

LinearCode fit_fastica(const Tensor& items, int64_t k, Generator& gen, int max_iter, double tol) {
  LinearCode pca = fit_pca(items, k, gen);
  NoGradGuard ng;
  Tensor zt = apply_linear_code(pca, items);  // whitened [n, k]
  std::vector<float> zf = zt.to_vector<float>();
  const int64_t n = zt.size(0);
  std::vector<double> z(zf.begin(), zf.end());
  // Symmetric decorrelation W ← (W Wᵀ)^(-1/2) W.
  auto decorrelate = [k](std::vector<double>& w) {
    std::vector<double> g(k * k, 0.0), vals, vecs;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t r = 0; r < k; ++r) g[i * k + j] += w[i * k + r] * w[j * k + r];
    jacobi_eigen(g, static_cast<int>(k), vals, vecs);
    std::vector<double> s(k * k, 0.0), out(k * k, 0.0);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t e = 0; e < k; ++e)
          s[i * k + j] += vecs[i * k + e] * vecs[j * k + e] / std::sqrt(std::max(vals[e], 1e-300));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t r = 0; r < k; ++r) out[i * k + j] += s[i * k + r] * w[r * k + j];
    w = std::move(out);
  };
  std::vector<double> w(k * k);
  for (double& e : w) e = gen.normal();
  decorrelate(w);
  LinearCode out;
  for (int it = 0; it < max_iter; ++it) {
    std::vector<double> wn(k * k, 0.0), gp(k, 0.0);
    for (int64_t t = 0; t < n; ++t) {
      const double* zr = z.data() + t * k;
      for (int64_t i = 0; i < k; ++i) {
        double u = 0;
        for (int64_t r = 0; r < k; ++r) u += w[i * k + r] * zr[r];
        double g = std::tanh(u);
        gp[i] += 1 - g * g;
        for (int64_t r = 0; r < k; ++r) wn[i * k + r] += g * zr[r];
      }
    }
    for (int64_t i = 0; i < k; ++i)
      for (int64_t r = 0; r < k; ++r) wn[i * k + r] = wn[i * k + r] / n - gp[i] / n * w[i * k + r];
    decorrelate(wn);
    double lim = 0;
    for (int64_t i = 0; i < k; ++i) {
      double d = 0;
      for (int64_t r = 0; r < k; ++r) d += wn[i * k + r] * w[i * k + r];
      lim = std::max(lim, std::abs(std::abs(d) - 1));
    }
    w = std::move(wn);
    out.iterations = it + 1;
    if (lim < tol) break;
  }
  // proj = proj_pca · Wᵀ, so s = W z.
  std::vector<float> pp = pca.proj.to_vector<float>();
  const int64_t P = pca.proj.size(0);
  std::vector<float> proj(static_cast<size_t>(P) * k, 0.0f);
  for (int64_t r = 0; r < P; ++r)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += pp[r * k + i] * w[j * k + i];
      proj[r * k + j] = static_cast<float>(s);
    }
  out.mean = pca.mean;
  out.proj = Tensor::from_vector(proj, Shape{P, k});
  out.eigenvalues = pca.eigenvalues;
  return out;
}

Tensor apply_linear_code(const LinearCode& code, const Tensor& items) {
  NoGradGuard ng;
  Tensor x = flat_f32(items);
  UNRAVEL_CHECK(x.size(1) == code.proj.size(0),
                "apply_linear_code: items have {} features, the code expects {}", x.size(1),
                code.proj.size(0));
  return contiguous(matmul(x - code.mean, code.proj));
}

}  // namespace unravel
