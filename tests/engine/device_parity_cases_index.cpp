// Device-parity cases: indexing, copies, random fills, distributions and likelihoods, fused kernel sums (the table's vocabulary: device_parity.h).
#include <cmath>

#include "ops/distributions.h"
#include "ops/kernel_sums.h"
#include "ops/likelihoods.h"
#include "tests/engine/device_parity.h"

namespace unravel::parity {

void add_index_copy_random_cases(std::vector<Case>& t) {
  const Rows row{t};
  // ---- indexing (backward: scatter_add for gather, index_add for index_select) -----------------
  for (DType dt : floats) {
    row("gather axis 1 [5,7] idx[5,4]", dt, {X({5, 7}), Idx({5, 4}, 7)},
        one([](auto& in) { return gather(in[0], 1, in[1]); }));
    row("gather axis 0 repeated [4,3] idx[10,3]", dt, {X({4, 3}), Idx({10, 3}, 4)},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("gather axis 0 transposed x, transposed idx", dt, {X({5, 7}).t(), Idx({3, 7}, 5).t()},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("gather axis -1 3-D [2,3,6] idx[2,3,9]", dt, {X({2, 3, 6}), Idx({2, 3, 9}, 6)},
        one([](auto& in) { return gather(in[0], -1, in[1]); }));
    row("gather empty idx [0,7]", dt, {X({5, 7}), Idx({0, 7}, 5)},
        one([](auto& in) { return gather(in[0], 0, in[1]); }));
    row("index_select axis 0 repeated [6,5] idx[9]", dt, {X({6, 5}), Idx({9}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
    row("index_select axis 1 [6,5] idx[3]", dt, {X({6, 5}), Idx({3}, 5)},
        one([](auto& in) { return index_select(in[0], 1, in[1]); }));
    row("index_select strided x [6,5] idx[4]", dt, {X({6, 5}).s(), Idx({4}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
    row("index_select strided idx [3,4,5] axis 1", dt, {X({3, 4, 5}), Idx({7}, 4).s()},
        one([](auto& in) { return index_select(in[0], 1, in[1]); }));
    row("index_select empty idx [0]", dt, {X({6, 5}), Idx({0}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
  }
  for (DType dt : {DType::i32, DType::i64}) {
    row("gather int axis 1 [5,7]", dt, {X({5, 7}, -9, 9).ints(), Idx({5, 4}, 7)},
        one([](auto& in) { return gather(in[0], 1, in[1]); }));
    row("index_select int axis 0 [6,5]", dt, {X({6, 5}, -9, 9).ints(), Idx({9}, 6)},
        one([](auto& in) { return index_select(in[0], 0, in[1]); }));
  }

  // ---- copies: cat / stack / slice / transpose / reshape / expand / pad / casts ----------------
  for (DType dt : floats) {
    row("concat axis 0 [3,5] + transposed [4,5]", dt, {X({3, 5}), X({4, 5}).t()},
        one([](auto& in) { return concat({in[0], in[1]}, 0); }));
    row("concat axis 1 [3,2] + strided [3,5] + [3,1]", dt, {X({3, 2}), X({3, 5}).s(), X({3, 1})},
        one([](auto& in) { return concat({in[0], in[1], in[2]}, 1); }));
    row("concat with empty [0,5] + [2,5]", dt, {X({0, 5}), X({2, 5})},
        one([](auto& in) { return concat({in[0], in[1]}, 0); }));
    row("stack axis 0 [3,5] + transposed", dt, {X({3, 5}), X({3, 5}).t()},
        one([](auto& in) { return stack({in[0], in[1]}, 0); }));
    row("stack axis 2 [3,5] x3", dt, {X({3, 5}), X({3, 5}).s(), X({3, 5})},
        one([](auto& in) { return stack({in[0], in[1], in[2]}, 2); }));
    row("slice step 3 [7,13]", dt, {X({7, 13})}, one([](auto& in) { return slice(in[0], 1, 1, 12, 3); }));
    row("slice negative [7,13] then contiguous", dt, {X({7, 13})},
        one([](auto& in) { return contiguous(slice(in[0], 0, -5, -1)); }));
    row("transpose + contiguous [2,3,4]", dt, {X({2, 3, 4})},
        one([](auto& in) { return contiguous(transpose(in[0], 0, 2)); }));
    row("permute + contiguous [2,3,4]", dt, {X({2, 3, 4})},
        one([](auto& in) { return contiguous(permute(in[0], {1, 2, 0})); }));
    row("reshape of transposed (a copy) [13,7]", dt, {X({13, 7}).t()},
        one([](auto& in) { return reshape(in[0], Shape{-1}); }));
    row("flatten strided [3,4,5]", dt, {X({3, 4, 5}).s()}, one([](auto& in) { return flatten(in[0], 1); }));
    row("expand [3,1] -> [3,5] + contiguous", dt, {X({3, 1})},
        one([](auto& in) { return contiguous(expand(in[0], Shape{2, 3, 5})); }));
    row("expand 0-d -> [4,3] * x", dt, {X({}), X({4, 3})},
        one([](auto& in) { return expand(in[0], Shape{4, 3}) * in[1]; }));
    row("squeeze/unsqueeze [7,1,13]", dt, {X({7, 1, 13})},
        one([](auto& in) { return unsqueeze(squeeze(in[0], 1), 0) * 2.0; }));
    row("pad [3,4] (1,2,0,1) value 0.5", dt, {X({3, 4})},
        one([](auto& in) { return pad(in[0], {1, 2, 0, 1}, 0.5); }));
    row("pad transposed [5,3]", dt, {X({5, 3}).t()}, one([](auto& in) { return pad(in[0], {0, 3}); }));
    row("clone strided [5,6]", dt, {X({5, 6}).s()}, one([](auto& in) { return clone(in[0]); }));
    row("cast to the other float", dt, {X({7, 13}).t()}, [dt](const TensorList& in, Device) {
      return TensorList{to(in[0], dt == DType::f32 ? DType::f64 : DType::f32)};
    });
    row("cast to i64 / i32 / u8", dt, {X({7, 13}, 0, 9)}, [](const TensorList& in, Device) {
      return TensorList{to(in[0], DType::i64), to(in[0], DType::i32), to(in[0], DType::u8)};
    });
    row("device round trip to(cpu) and back", dt, {X({7, 5})}, [](const TensorList& in, Device d) {
      return TensorList{to(to(in[0] * 2.0, kCPU), d) + 1.0};
    });
    row("in-place add_/mul_/copy_/fill_ (broadcast src)", dt, {X({4, 5}), X({5})},
        [](const TensorList& in, Device) {
          NoGradGuard ng;
          Tensor y = clone(in[0]);
          add_(y, in[1], 0.5);
          mul_(y, 3.0);
          add_(y, -1.0);
          Tensor z = Tensor::empty(Shape{4, 5}, in[0].dtype(), in[0].device());
          copy_(z, in[1]);
          Tensor f = Tensor::empty(Shape{3}, in[0].dtype(), in[0].device());
          fill_(f, 2.5);
          return TensorList{y, z, f};
        });
  }
  for (DType dt : {DType::i32, DType::i64, DType::u8})
    row("cast int to f32 / f64, transposed", dt, {X({7, 13}, 0, 9).ints().t()},
        [](const TensorList& in, Device) { return TensorList{to(in[0], DType::f32), to(in[0], DType::f64)}; });

  // ---- random fills and constructions (made on the device; must equal the CPU's) ---------------
  for (DType dt : floats) {
    row("uniform [7,13] offset 3", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(11, 3);
      return TensorList{uniform(Shape{7, 13}, g, -1, 2, dt, d)};
    }, Tol::rng);
    row("uniform twice, odd sizes (offset continues)", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(12);
      Tensor a = uniform(Shape{5}, g, 0, 1, dt, d);
      Tensor b = uniform(Shape{3, 7}, g, -3, 3, dt, d);
      return TensorList{a, b, Tensor::scalar(static_cast<double>(g.offset()), DType::f64, d)};
    }, Tol::rng);
    row("uniform empty [0,4]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(13);
      return TensorList{uniform(Shape{0, 4}, g, 0, 1, dt, d)};
    }, Tol::rng);
    row("uniform large [1000,33]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(14, 1ull << 33);
      return TensorList{uniform(Shape{1000, 33}, g, 0, 1, dt, d)};
    }, Tol::rng);
    row("normal [7,13] mean 0.5 std 2", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(15, 1);
      return TensorList{normal(Shape{7, 13}, g, 0.5, 2.0, dt, d)};
    }, Tol::rng_normal);
    row("normal large [1000,33]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(16);
      return TensorList{normal(Shape{1000, 33}, g, 0, 1, dt, d)};
    }, Tol::rng_normal);
    row("randn_like(x) [7,13]", dt, {X({7, 13}).nograd()}, [](const TensorList& in, Device) {
      Generator g(17, 5);
      return TensorList{randn_like(in[0], g)};
    }, Tol::rng_normal);
    row("bernoulli p=0.3 [7,13]", dt, {}, [dt](const TensorList&, Device d) {
      Generator g(18, 2);
      return TensorList{bernoulli(Shape{7, 13}, 0.3, g, dt, d)};
    }, Tol::rng);
    row("arange 13 start -1 step 0.25", dt, {}, [dt](const TensorList&, Device d) {
      return TensorList{arange(13, dt, d, -1.0, 0.25)};
    });
    row("eye 5", dt, {}, [dt](const TensorList&, Device d) { return TensorList{eye(5, dt, d)}; });
  }
  row("bernoulli u8 p=0.7 [13]", DType::u8, {}, [](const TensorList&, Device d) {
    Generator g(19);
    return TensorList{bernoulli(Shape{13}, 0.7, g, DType::u8, d)};
  }, Tol::rng);
  for (DType dt : {DType::i64, DType::i32}) {
    row("arange 13 start 2 step 3", dt, {}, [dt](const TensorList&, Device d) {
      return TensorList{arange(13, dt, d, 2.0, 3.0)};
    });
    row("arange 0", dt, {}, [dt](const TensorList&, Device d) { return TensorList{arange(0, dt, d)}; });
  }
  row("permutation 13, 1, 0 and permutations 3x7", DType::i64, {}, [](const TensorList&, Device d) {
    Generator g(21, 7);
    Tensor a = permutation(13, g, d), b = permutation(1, g, d), c = permutation(0, g, d);
    Tensor p = permutations(3, 7, g, d);
    return TensorList{a, b, c, p};
  }, Tol::rng);
  row("permutation large 5000", DType::i64, {}, [](const TensorList&, Device d) {
    Generator g(22);
    return TensorList{permutation(5000, g, d)};
  }, Tol::rng);

  // ---- distributions and likelihoods (composites in ops/distributions.h, ops/likelihoods.h) ----
  for (DType dt : floats) {
    const Tol T = Tol::transcendental;
    row("gaussian_log_density broadcast [4,3] [3] [4,3]", dt, {X({4, 3}), X({3}), X({4, 3}, -1, 1)},
        one([](auto& in) { return gaussian_log_density(in[0], in[1], in[2]); }), T);
    row("gaussian_log_density_scale tensor / scalar", dt, {X({4, 3}).t(), X({4, 3}), X({4, 3}, 0.5, 2)},
        [](const TensorList& in, Device) {
          return TensorList{gaussian_log_density_scale(in[0], in[1], in[2]),
                            gaussian_log_density_scale(in[0], in[1], 0.7)};
        },
        T);
    row("pairwise_log_density [5,3] [4,3] [4,3]", dt, {X({5, 3}), X({4, 3}), X({4, 3}, -1, 1)},
        one([](auto& in) { return pairwise_log_density(in[0], in[1], in[2]); }), T);
    row("DiagonalGaussian rsample(K=3) / log_prob_sum / entropy", dt, {X({2, 3}), X({2, 3}, -1, 1)},
        [](const TensorList& in, Device) {
          DiagonalGaussian q = DiagonalGaussian::from_logvar(in[0], in[1]);
          Generator g(31, 4);
          Tensor z = q.rsample(g, 3);
          return TensorList{z, q.log_prob_sum(z), q.entropy(), q.variance()};
        },
        T);
    row("DiagonalGaussian from_scale rsample", dt, {X({4, 2}), X({4, 2}, 0.3, 2)},
        [](const TensorList& in, Device) {
          DiagonalGaussian q = DiagonalGaussian::from_scale(in[0], in[1]);
          Generator g(32);
          return TensorList{q.rsample(g), q.logvar()};
        },
        T);
    row("bernoulli_log_prob K-leading logits [3,2,3,4]", dt, {X({2, 3, 4}, 0, 1), X({3, 2, 3, 4}, -4, 4)},
        one([](auto& in) { return bernoulli_log_prob(in[0], in[1]); }), T);
    row("gaussian_log_prob fixed / learned log-scale", dt, {X({2, 3, 4}), X({2, 3, 4}).t(), X({4}, -1, 1)},
        [](const TensorList& in, Device) {
          return TensorList{gaussian_log_prob(in[0], in[1], 0.5), gaussian_log_prob(in[0], in[1], in[2])};
        },
        T);
    row("laplace_log_prob [2,3,4]", dt, {X({2, 3, 4}), X({2, 3, 4})},
        one([](auto& in) { return laplace_log_prob(in[0], in[1], 0.3); }), T);
  }

  // ---- fused kernel sums (ops/kernel_sums.h) --------------------------------------------------
  for (DType dt : floats) {
    static const std::vector<double> cs{0.2, 1.0, 4.0};
    const Tol L = Tol::library;
    row("pairwise_imq_sum [6,3] [5,3]", dt, {X({6, 3}), X({5, 3})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum_full [6,3] [5,3]", dt, {X({6, 3}), X({5, 3})},
        one([](auto& in) { return pairwise_imq_sum_full(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum a with itself [7,4]", dt, {X({7, 4})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[0], cs); }), L);
    row("pairwise_imq_sum_full transposed a, strided b", dt, {X({13, 2}).t(), X({9, 2}).s()},
        one([](auto& in) { return pairwise_imq_sum_full(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum [1,1] [1,1]", dt, {X({1, 1}), X({1, 1})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
    row("pairwise_imq_sum larger [64,10] [48,10]", dt, {X({64, 10}), X({48, 10})},
        one([](auto& in) { return pairwise_imq_sum(in[0], in[1], cs); }), L);
  }
}

}  // namespace unravel::parity
