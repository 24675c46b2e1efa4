// Device-parity cases: reductions, matrix products, convolutions, batch norm, dropout, losses (the table's vocabulary: device_parity.h).
#include <cmath>

#include "ops/distributions.h"
#include "ops/kernel_sums.h"
#include "ops/likelihoods.h"
#include "tests/engine/device_parity.h"

namespace unravel::parity {

void add_reduction_matmul_conv_cases(std::vector<Case>& t) {
  const Rows row{t};
  // ---- reductions -----------------------------------------------------------------------------
  struct R {
    const char* name;
    Tensor (*f)(const Tensor&, const Axes&, bool);
    Tol tol;
  };
  const R reds[] = {
      {"sum", [](const Tensor& x, const Axes& a, bool k) { return sum(x, a, k); }, Tol::plain},
      {"mean", [](const Tensor& x, const Axes& a, bool k) { return mean(x, a, k); }, Tol::plain},
      {"max", [](const Tensor& x, const Axes& a, bool k) { return max(x, a, k); }, Tol::plain},
      {"min", [](const Tensor& x, const Axes& a, bool k) { return min(x, a, k); }, Tol::plain},
      {"logsumexp", [](const Tensor& x, const Axes& a, bool k) { return logsumexp(x, a, k); },
       Tol::transcendental},
      {"var", [](const Tensor& x, const Axes& a, bool k) { return var(x, a, 1, k); }, Tol::plain},
  };
  struct AxSet {
    const char* name;
    Axes axes;
    bool keep;
  };
  const AxSet axsets[] = {
      {"full", {}, false},          {"axis 1", {1}, false},         {"axes {0,2}", {0, 2}, false},
      {"axis -1 keepdim", {-1}, true}, {"axes {1,2} keepdim", {1, 2}, true}, {"full keepdim", {}, true},
  };
  for (const R& r : reds) {
    const auto f = r.f;
    for (DType dt : floats) {
      for (const AxSet& ax : axsets) {
        auto fn = [f, a = ax.axes, k = ax.keep](const TensorList& in, Device) {
          return TensorList{f(in[0], a, k)};
        };
        row(std::string(r.name) + " " + ax.name + " [4,7,5]", dt, {X({4, 7, 5})}, fn, r.tol);
      }
      auto fn1 = [f](const TensorList& in, Device) { return TensorList{f(in[0], {1}, false)}; };
      auto fn0 = [f](const TensorList& in, Device) { return TensorList{f(in[0], {0, 2}, true)}; };
      row(std::string(r.name) + " axis 1 transposed [3,7,5]", dt, {X({3, 7, 5}).t()}, fn1, r.tol);
      row(std::string(r.name) + " axes {0,2} strided [3,4,6]", dt, {X({3, 4, 6}).s()}, fn0, r.tol);
      if (std::string(r.name) != "var")  // one element per row: no unbiased variance
        row(std::string(r.name) + " axis 1 [13,1]", dt, {X({13, 1})}, fn1, r.tol);
      row(std::string(r.name) + " axis 1 large [129,257]", dt, {X({129, 257})}, fn1, r.tol);
      auto full = [f](const TensorList& in, Device) { return TensorList{f(in[0], {}, false)}; };
      row(std::string(r.name) + " full large [129,257]", dt, {X({129, 257})}, full, r.tol);
    }
  }
  for (DType dt : floats) {
    // Empty: reductions over a 0-extent axis (sum 0, mean NaN) and over a non-empty one.
    row("sum empty [0,5] axis 0", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0], {0}); }));
    row("sum empty [0,5] axis 1", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0], {1}); }));
    row("sum empty [0,5] full", dt, {X({0, 5})}, one([](auto& in) { return sum(in[0]); }));
    row("mean empty [0,5] axis 1", dt, {X({0, 5})}, one([](auto& in) { return mean(in[0], {1}); }));
    row("sum 0-d", dt, {X({})}, one([](auto& in) { return sum(in[0]); }));
    // Ties split the gradient of max / min.
    row("max with ties [7,13] axis 0", dt, {X({7, 13}, -1, 2).ints()},
        one([](auto& in) { return max(in[0], {0}); }));
    row("min with ties [7,13] full", dt, {X({7, 13}, -1, 2).ints()},
        one([](auto& in) { return min(in[0]); }));
  }
  for (DType dt : {DType::i32, DType::i64}) {
    row("sum int axis 1 [7,13]", dt, {X({7, 13}, -9, 9).ints()},
        one([](auto& in) { return sum(in[0], {1}); }));
    row("max int axes {0} [7,13]", dt, {X({7, 13}, -9, 9).ints()},
        one([](auto& in) { return max(in[0], {0}); }));
  }
  // argmax / argmin (i64, no gradient); integer values give ties (the first index wins).
  for (DType dt : {kF32, kF64, DType::i32, DType::i64}) {
    const bool ints = !is_floating(dt);
    In x713 = ints ? X({7, 13}, -3, 3).ints() : X({7, 13});
    In ties = X({7, 13}, -1, 2).ints();
    row("argmax axis 1 [7,13]", dt, {x713}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmax axis 0 keepdim [7,13]", dt, {x713},
        one([](auto& in) { return argmax(in[0], 0, true); }));
    row("argmin axis -1 transposed [13,7]", dt, {x713.t()},
        one([](auto& in) { return argmin(in[0], -1); }));
    row("argmin axis 0 strided [5,6]", dt, {X({5, 6}, -3, 3).ints().s()},
        one([](auto& in) { return argmin(in[0], 0); }));
    row("argmax ties [7,13]", dt, {ties}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmin ties [7,13]", dt, {ties}, one([](auto& in) { return argmin(in[0], 0); }));
    row("argmax [1,1]", dt, {X({1, 1})}, one([](auto& in) { return argmax(in[0], 1); }));
    row("argmax large [129,257]", dt, {X({129, 257})}, one([](auto& in) { return argmax(in[0], 1); }));
  }
  // softmax / log_softmax.
  for (DType dt : floats) {
    row("softmax axis -1 [7,13]", dt, {X({7, 13}, -4, 4)},
        one([](auto& in) { return softmax(in[0], -1); }), Tol::transcendental);
    row("softmax axis 0 transposed [13,7]", dt, {X({13, 7}, -4, 4).t()},
        one([](auto& in) { return softmax(in[0], 0); }), Tol::transcendental);
    row("softmax [1,1]", dt, {X({1, 1})}, one([](auto& in) { return softmax(in[0], 1); }),
        Tol::transcendental);
    row("log_softmax axis 1 [7,13]", dt, {X({7, 13}, -4, 4)},
        one([](auto& in) { return log_softmax(in[0], 1); }), Tol::transcendental);
    row("log_softmax axis 1 strided [4,3,6]", dt, {X({4, 3, 6}, -4, 4).s()},
        one([](auto& in) { return log_softmax(in[0], 1); }), Tol::transcendental);
  }

  // ---- matrix products ------------------------------------------------------------------------
  auto mm = one([](auto& in) { return matmul(in[0], in[1]); });
  for (DType dt : floats) {
    const Tol L = Tol::library;
    row("matmul 2-D [7,13]@[13,5]", dt, {X({7, 13}), X({13, 5})}, mm, L);
    row("matmul batched [3,7,13]@[3,13,5]", dt, {X({3, 7, 13}), X({3, 13, 5})}, mm, L);
    row("matmul broadcast batch [2,1,4,6]@[3,6,5]", dt, {X({2, 1, 4, 6}), X({3, 6, 5})}, mm, L);
    row("matmul batch @ 2-D [3,7,13]@[13,5]", dt, {X({3, 7, 13}), X({13, 5})}, mm, L);
    row("matmul transposed a [7,13]@[13,5]", dt, {X({7, 13}).t(), X({13, 5})}, mm, L);
    row("matmul transposed b [7,13]@[13,5]", dt, {X({7, 13}), X({13, 5}).t()}, mm, L);
    row("matmul both transposed batched [2,7,13]@[2,13,5]", dt, {X({2, 7, 13}).t(), X({2, 13, 5}).t()},
        mm, L);
    row("matmul strided a [7,6]@[6,5]", dt, {X({7, 6}).s(), X({6, 5})}, mm, L);
    row("matmul vec@mat [13]@[13,5]", dt, {X({13}), X({13, 5})}, mm, L);
    row("matmul mat@vec [7,13]@[13]", dt, {X({7, 13}), X({13})}, mm, L);
    row("matmul vec@vec [13]@[13]", dt, {X({13}), X({13})}, mm, L);
    row("matmul [1,1]@[1,1]", dt, {X({1, 1}), X({1, 1})}, mm, L);
    row("matmul empty k [4,0]@[0,3]", dt, {X({4, 0}), X({0, 3})}, mm, L);
    row("matmul empty m [0,5]@[5,3]", dt, {X({0, 5}), X({5, 3})}, mm, L);
    row("matmul larger [64,96]@[96,80]", dt, {X({64, 96}), X({96, 80})}, mm, L);
    row("linear [6,13] w[5,13] b[5]", dt, {X({6, 13}), X({5, 13}), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear no bias [6,13] w[5,13]", dt, {X({6, 13}), X({5, 13})},
        one([](auto& in) { return linear(in[0], in[1]); }), L);
    row("linear batched [2,3,13] w[5,13] b[5]", dt, {X({2, 3, 13}), X({5, 13}), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear transposed x, strided w", dt, {X({6, 13}).t(), X({5, 13}).s(), X({5})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
    row("linear [1,1] w[1,1] b[1]", dt, {X({1, 1}), X({1, 1}), X({1})},
        one([](auto& in) { return linear(in[0], in[1], in[2]); }), L);
  }

  // ---- convolutions (groups are not exposed by Conv2dOptions: groups = 1 only) ----------------
  auto conv = [](Conv2dOptions o, bool bias) {
    return [o, bias](const TensorList& in, Device) {
      return TensorList{conv2d(in[0], in[1], bias ? in[2] : Tensor(), o)};
    };
  };
  Conv2dOptions plain_o, s2p1, dil2, pad10;
  s2p1.stride = {2, 2};
  s2p1.padding = {1, 1};
  dil2.dilation = {2, 2};
  pad10.padding = {1, 0};
  for (DType dt : floats) {
    const Tol L = Tol::library;
    row("conv2d [2,3,9,9] w[4,3,3,3] bias", dt, {X({2, 3, 9, 9}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(plain_o, true), L);
    row("conv2d stride 2 pad 1 [2,3,9,8]", dt, {X({2, 3, 9, 8}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(s2p1, true), L);
    row("conv2d dilation 2 no bias [1,2,9,9]", dt, {X({1, 2, 9, 9}), X({3, 2, 3, 3}, -0.5, 0.5)},
        conv(dil2, false), L);
    row("conv2d odd [1,1,7,5] w[2,1,3,2] pad (1,0)", dt, {X({1, 1, 7, 5}), X({2, 1, 3, 2}), X({2})},
        conv(pad10, true), L);
    row("conv2d transposed input [2,3,8,9]", dt, {X({2, 3, 8, 9}).t(), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        conv(s2p1, true), L);
    row("conv2d strided weight", dt, {X({2, 3, 6, 6}), X({4, 3, 3, 2}, -0.5, 0.5).s()},
        conv(plain_o, false), L);
    row("conv2d 1x1 [2,5,4,4] w[3,5,1,1]", dt, {X({2, 5, 4, 4}), X({3, 5, 1, 1}), X({3})},
        conv(plain_o, true), L);
    row("conv2d_relu stride 2 pad 1", dt, {X({2, 3, 9, 8}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        [o = s2p1](const TensorList& in, Device) { return TensorList{conv2d_relu(in[0], in[1], in[2], o)}; },
        L);
    row("conv2d_relu leaky 0.1", dt, {X({2, 3, 7, 7}), X({4, 3, 3, 3}, -0.5, 0.5), X({4})},
        [o = plain_o](const TensorList& in, Device) {
          return TensorList{conv2d_relu(in[0], in[1], in[2], o, 0.1)};
        },
        L);
    Conv2dOptions tr;
    tr.stride = {2, 2};
    tr.padding = {1, 1};
    tr.output_padding = {1, 1};
    row("conv_transpose2d stride 2 pad 1 outpad 1 [2,4,5,5] w[4,3,3,3]", dt,
        {X({2, 4, 5, 5}), X({4, 3, 3, 3}, -0.5, 0.5), X({3})},
        [tr](const TensorList& in, Device) { return TensorList{conv_transpose2d(in[0], in[1], in[2], tr)}; },
        L);
    row("conv_transpose2d odd no bias [1,2,4,3] w[2,3,2,2]", dt, {X({1, 2, 4, 3}), X({2, 3, 2, 2})},
        [](const TensorList& in, Device) { return TensorList{conv_transpose2d(in[0], in[1])}; }, L);
    row("conv_transpose2d_relu leaky 0.2", dt, {X({2, 4, 5, 5}).t(), X({4, 3, 3, 3}, -0.5, 0.5), X({3})},
        [tr](const TensorList& in, Device) {
          return TensorList{conv_transpose2d_relu(in[0], in[1], in[2], tr, 0.2)};
        },
        L);
  }

  // ---- batch norm, dropout, losses, one_hot ---------------------------------------------------
  for (DType dt : floats) {
    // Training: output and the running statistics (updated in place) after the call.
    auto bn_train = [](const TensorList& in, Device) {
      Tensor y = batch_norm(in[0], in[1], in[2], in[3], in[4], true, 0.1, 1e-5);
      return TensorList{y, clone(in[3]), clone(in[4])};
    };
    auto bn_eval = [](const TensorList& in, Device) {
      return TensorList{batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.1, 1e-5)};
    };
    auto stats = [](int64_t c) {
      return std::vector<In>{X({c}, -0.5, 0.5).nograd(), X({c}, 0.5, 2).nograd()};
    };
    auto with = [](std::vector<In> a, const std::vector<In>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    const Tol L = Tol::library;
    row("batch_norm train [6,4]", dt, with({X({6, 4}), X({4}, 0.5, 1.5), X({4})}, stats(4)), bn_train, L);
    row("batch_norm train [3,4,5,5]", dt, with({X({3, 4, 5, 5}), X({4}, 0.5, 1.5), X({4})}, stats(4)),
        bn_train, L);
    row("batch_norm train transposed [7,3]", dt, with({X({7, 3}).t(), X({3}, 0.5, 1.5), X({3})}, stats(3)),
        bn_train, L);
    row("batch_norm train no affine, no running stats [5,3]", dt, {X({5, 3})},
        one([](auto& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }), L);
    row("batch_norm eval [6,4]", dt, with({X({6, 4}), X({4}, 0.5, 1.5), X({4})}, stats(4)), bn_eval, L);
    row("batch_norm eval [2,4,3,5]", dt, with({X({2, 4, 3, 5}), X({4}, 0.5, 1.5), X({4})}, stats(4)),
        bn_eval, L);
    row("dropout p=0.3 [7,13]", dt, {X({7, 13})}, [](const TensorList& in, Device) {
      Generator g(5, 3);
      return TensorList{dropout(in[0], 0.3, true, g)};
    });
    row("dropout p=0.5 strided [5,6]", dt, {X({5, 6}).s()}, [](const TensorList& in, Device) {
      Generator g(6);
      return TensorList{dropout(in[0], 0.5, true, g)};
    });
    for (Reduction red : {Reduction::none, Reduction::sum, Reduction::mean}) {
      const std::string rn = red == Reduction::none ? "none" : red == Reduction::sum ? "sum" : "mean";
      row("bce_with_logits " + rn + " [7,5]", dt, {X({7, 5}, -4, 4), X({7, 5}, 0, 1)},
          [red](const TensorList& in, Device) { return TensorList{bce_with_logits(in[0], in[1], red)}; },
          Tol::transcendental);
      row("mse_loss " + rn + " [7,5] transposed target", dt, {X({7, 5}), X({7, 5}).t()},
          [red](const TensorList& in, Device) { return TensorList{mse_loss(in[0], in[1], red)}; });
      row("cross_entropy " + rn + " [7,5]", dt, {X({7, 5}, -3, 3), Idx({7}, 5)},
          [red](const TensorList& in, Device) { return TensorList{cross_entropy(in[0], in[1], red)}; },
          Tol::transcendental);
    }
    row("cross_entropy transposed logits [13,4]", dt, {X({13, 4}, -3, 3).t(), Idx({13}, 4)},
        one([](auto& in) { return cross_entropy(in[0], in[1]); }), Tol::transcendental);
    // DC-IGN's clamp (a mask in [0, 1]: the formulas interpolate; its gradient is replaced).
    row("batch_mean_clamp [6,4]", dt, {X({6, 4}), X({4}, 0, 1).nograd()},
        one([](auto& in) { return batch_mean_clamp(in[0], in[1], 0.5); }));
    row("batch_mean_clamp [2,5,3] transposed", dt, {X({2, 5, 3}).t(), X({3}, 0, 1).nograd()},
        one([](auto& in) { return batch_mean_clamp(in[0], in[1], 2.0); }));
    row("one_hot [7] x5", dt, {Idx({7}, 5)},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 5, dt)}; });
    row("one_hot [3,4] x6 transposed index", dt, {Idx({4, 3}, 6).t()},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 6, dt)}; });
    row("one_hot empty [0]", dt, {Idx({0}, 3)},
        [dt](const TensorList& in, Device) { return TensorList{one_hot(in[0], 3, dt)}; });
  }
}

}  // namespace unravel::parity
