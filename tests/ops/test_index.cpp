// index_select / gather (differentiable) and the scatter_add / index_add kernels: values on
// small hand-checked cases and against by-definition loops, f64 gradient checks (repeated
// indices, every axis, non-contiguous inputs) and the out-of-range / wrong-dtype errors.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::gradcheck;
using testing::max_abs_diff;
using testing::rand64;

namespace {

Tensor idx(const std::vector<int64_t>& v, const Shape& s) {
  return Tensor::from_vector<int64_t>(v, s);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// torch.gather by definition for a 3-D x.
std::vector<double> naive_gather3(const Tensor& x, int axis, const Tensor& index) {
  auto xv = x.to_vector<double>();
  auto iv = index.to_vector<int64_t>();
  const Shape& xs = x.shape();
  const Shape& is = index.shape();
  std::vector<double> out;
  for (int64_t i = 0; i < is[0]; ++i)
    for (int64_t j = 0; j < is[1]; ++j)
      for (int64_t k = 0; k < is[2]; ++k) {
        int64_t c[3] = {i, j, k};
        c[axis] = iv[(i * is[1] + j) * is[2] + k];
        out.push_back(xv[(c[0] * xs[1] + c[1]) * xs[2] + c[2]]);
      }
  return out;
}

}  // namespace

TEST_CASE("index_select: values along each axis, repeated indices, non-contiguous input") {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}, Shape{4, 3});
  Tensor y0 = index_select(x, 0, idx({2, 0, 2}, Shape{3}));
  CHECK(y0.shape() == Shape{3, 3});
  CHECK(y0.to_vector<float>() == std::vector<float>{20, 21, 22, 0, 1, 2, 20, 21, 22});
  Tensor y1 = index_select(x, -1, idx({1, 1}, Shape{2}));
  CHECK(y1.to_vector<float>() == std::vector<float>{1, 1, 11, 11, 21, 21, 31, 31});
  // Transposed input (3, 4): row 3 of x^T is column 3... of x's rows.
  Tensor yt = index_select(transpose(x, 0, 1), 1, idx({3, 0}, Shape{2}));
  CHECK(yt.to_vector<float>() == std::vector<float>{30, 0, 31, 1, 32, 2});
  // Integer tensors, middle axis of a 3-D tensor, against a by-definition loop.
  Tensor xi = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Shape{2, 3, 2});
  Tensor yi = index_select(xi, 1, idx({2, 0}, Shape{2}));
  CHECK(yi.to_vector<int64_t>() == std::vector<int64_t>{4, 5, 0, 1, 10, 11, 6, 7});
  // Empty index.
  CHECK(index_select(x, 0, Tensor::empty(Shape{0}, DType::i64)).shape() == Shape{0, 3});
}

TEST_CASE("gather: values along each axis against a by-definition loop") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  // torch.gather(x, 1, [[0, 0], [2, 1]]) = [[1, 1], [6, 5]].
  CHECK(gather(x, 1, idx({0, 0, 2, 1}, Shape{2, 2})).to_vector<double>() ==
        std::vector<double>{1, 1, 6, 5});
  // axis 0 with an index smaller than x along dim 1.
  CHECK(gather(x, 0, idx({1, 0, 1, 1}, Shape{2, 2})).to_vector<double>() ==
        std::vector<double>{4, 2, 4, 5});
  Tensor x3 = rand64(Shape{3, 4, 5}, 1);
  Generator g(7);
  for (int axis = 0; axis < 3; ++axis) {
    CAPTURE(axis);
    Shape is{2, 3, 4};
    Tensor index = to(floor(uniform(is, g, 0.0, static_cast<double>(x3.shape()[axis]),
                                    DType::f64)), DType::i64);
    Tensor y = gather(x3, axis, index);
    CHECK(y.shape() == is);
    CHECK(y.to_vector<double>() == naive_gather3(x3, axis, index));
    // A permuted (non-contiguous) input gives the same as its dense copy.
    Tensor xp = permute(rand64(Shape{5, 3, 4}, 2), {1, 2, 0});
    Tensor ref = Tensor::from_vector<double>(naive_gather3(contiguous(xp), axis, index), is);
    CHECK(max_abs_diff(gather(xp, axis, index), ref) == 0);
  }
}

TEST_CASE("scatter_add and index_add kernels accumulate repeated indices") {
  Backend& be = backend(kCPU);
  Tensor y = Tensor::zeros(Shape{2, 3}, DType::f64);
  Tensor src = Tensor::from_vector<double>({1, 2, 3, 4}, Shape{2, 2});
  be.scatter_add(src.view(), 1, idx({0, 0, 2, 1}, Shape{2, 2}).view(), y.view());
  CHECK(y.to_vector<double>() == std::vector<double>{3, 0, 0, 0, 4, 3});
  Tensor z = Tensor::ones(Shape{3, 2}, DType::f32);
  Tensor s2 = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{3, 2});
  be.index_add(s2.view(), 0, idx({2, 2, 0}, Shape{3}).view(), z.view());
  CHECK(z.to_vector<float>() == std::vector<float>{6, 7, 1, 1, 5, 7});
}

TEST_CASE("index_select and gather: f64 gradient checks") {
  Tensor x = rand64(Shape{4, 3}, 1);
  Tensor rep = idx({2, 0, 2, 3, 2}, Shape{5});
  gradcheck([&](const TensorList& in) { return index_select(in[0], 0, rep); }, {x},
            "index_select axis 0 (repeated)");
  Tensor i220 = idx({2, 2, 0}, Shape{3}), i313 = idx({3, 1, 3}, Shape{3});
  gradcheck([&](const TensorList& in) { return index_select(in[0], 1, i220); }, {x},
            "index_select axis 1");
  gradcheck([&](const TensorList& in) { return index_select(transpose(in[0], 0, 1), 1, rep); },
            {x}, "index_select transposed");
  Tensor x3 = rand64(Shape{3, 4, 5}, 2);
  gradcheck([&](const TensorList& in) { return index_select(in[0], 1, i313); }, {x3},
            "index_select 3-D middle axis");
  Generator g(9);
  for (int axis = 0; axis < 3; ++axis) {
    double extent = static_cast<double>(x3.shape()[axis]);
    Tensor index = to(floor(uniform(Shape{3, 4, 2}, g, 0.0, extent, DType::f64)), DType::i64);
    gradcheck([&](const TensorList& in) { return gather(in[0], axis, index); }, {x3},
              "gather 3-D axis " + std::to_string(axis));
    gradcheck([&](const TensorList& in) {
                return gather(permute(in[0], {1, 2, 0}), axis, index);
              },
              {rand64(Shape{5, 3, 4}, 3)}, "gather permuted axis " + std::to_string(axis));
  }
  // Gradient values: repeated picks sum.
  Tensor v = rand64(Shape{4}, 5).set_requires_grad(true);
  sum(index_select(v, 0, idx({1, 1, 3}, Shape{3}))).backward();
  CHECK(v.grad().to_vector<double>() == std::vector<double>{0, 2, 0, 1});
}

TEST_CASE("index_select and gather: errors name the bad index and the extent") {
  Tensor x = Tensor::ones(Shape{4, 3});
  CHECK(error_of([&] { index_select(x, 0, idx({1, 4}, Shape{2})); }) ==
        "index_select: index 4 is out of range for axis 0 of extent 4 (tensor [4, 3])");
  CHECK(error_of([&] { index_select(x, 1, idx({-1}, Shape{1})); }) ==
        "index_select: index -1 is out of range for axis 1 of extent 3 (tensor [4, 3])");
  CHECK(error_of([&] { gather(x, 1, idx({0, 7}, Shape{1, 2})); }) ==
        "gather: index 7 is out of range for axis 1 of extent 3 (tensor [4, 3])");
  CHECK(error_of([&] { index_select(x, 0, Tensor::ones(Shape{2}, DType::i32)); })
            .find("index_select: index must be i64, got i32[2]") != std::string::npos);
  CHECK(error_of([&] { gather(x, 0, Tensor::zeros(Shape{2, 2}, DType::f32)); })
            .find("gather: index must be i64") != std::string::npos);
  CHECK(error_of([&] { index_select(x, 0, idx({0, 1}, Shape{1, 2})); })
            .find("index_select: index must be 1-D") != std::string::npos);
  CHECK(error_of([&] { gather(x, 0, idx({0, 1}, Shape{2})); })
            .find("gather: index i64[2] must have the rank of input") != std::string::npos);
  CHECK(error_of([&] { gather(x, 0, idx({0, 0, 0, 0}, Shape{1, 4})); }) ==
        "gather: index [1, 4] is larger than input [4, 3] along dim 1 (axis 0)");
  CHECK(error_of([&] { index_select(x, 2, idx({0}, Shape{1})); })
            .find("axis 2 is out of range") != std::string::npos);
  // A failed scatter leaves the output untouched.
  Tensor y = Tensor::zeros(Shape{3}, DType::f64);
  CHECK_THROWS_AS(backend(kCPU).index_add(Tensor::ones(Shape{2}, DType::f64).view(), 0,
                                          idx({0, 3}, Shape{2}).view(), y.view()),
                  Error);
  CHECK(y.to_vector<double>() == std::vector<double>{0, 0, 0});
}
