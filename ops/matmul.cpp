// Matrix products: NumPy `matmul` and the fused `linear` layer, forward through Backend::gemm.
//
// matmul(A, B): a 1-D A is treated as a (1, k) row and a 1-D B as a (k, 1) column (the added
// dim is dropped from the result); otherwise A is (..., m, k), B is (..., k, n) and the batch
// dims broadcast. Operands are passed to gemm as strided views: a transposed or broadcast operand
// costs no copy; an operand is copied only when neither of its matrix dims has unit stride.
// Backward: dA = dC @ B^T, dB = A^T @ dC, each summed over the batch dims its operand broadcast.
//
// linear(x, w, b) = x @ w^T + b for x (..., in), w (out, in): x is flattened to (N, in) and one
// gemm accumulates (beta = 1) onto the bias already broadcast into the output. Backward, with
// dY flattened to (N, out): dx = dY @ w, dw = dY^T @ x (one gemm over all N rows), db = Σ_rows dY.
#include "ops/matmul.h"

#include <algorithm>
#include <vector>

#include "ops/broadcast.h"
#include "ops/detail.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"

namespace unravel {

namespace {

/// The precision of this thread's matrix kernels (engine/precision.h) for an f32 product; f64
/// products (gradient checks, references) always run in f64.
Precision gemm_precision(const Tensor& out) {
  return out.dtype() == DType::f32 ? matmul_precision() : Precision::fp32;
}


// True when a rows x cols matrix with strides (s0, s1) can go to the BLAS without a copy:
// unit stride along one dim and a leading dimension that covers the other (as gemm_cpu.cpp).
bool gemm_ready(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  bool row_major = (s1 == 1 || cols == 1) && (rows == 1 || s0 >= std::max<int64_t>(1, cols));
  bool col_major = (s0 == 1 || rows == 1) && (cols == 1 || s1 >= std::max<int64_t>(1, rows));
  return row_major || col_major;
}

// A dense copy that records nothing on the tape.
Tensor dense_copy(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).copy(x.view(), y.view());
  return y;
}

// An operand seen as (batch..., rows, cols): 1-D operands get the unit dim matmul adds.
struct Operand {
  Tensor t;        // owns the memory (the input, or a dense copy of it)
  Shape shape;     // promoted shape, rank >= 2
  Strides strides;
};

Operand promote(const Tensor& t, bool is_left) {
  Operand o{t, t.shape(), t.strides()};
  if (t.dim() == 1) {
    int64_t k = t.shape()[0], s = t.strides()[0];
    if (is_left) {
      o.shape = Shape{1, k};
      o.strides = Strides{k * s, s};
    } else {
      o.shape = Shape{k, 1};
      o.strides = Strides{s, 1};
    }
  }
  return o;
}

// Promotes t, copying it first when its matrix dims are not gemm-ready.
Operand gemm_operand(const Tensor& t, bool is_left) {
  Operand o = promote(t, is_left);
  int r = o.shape.size();
  if (!gemm_ready(o.shape[r - 2], o.shape[r - 1], o.strides[r - 2], o.strides[r - 1]))
    o = promote(dense_copy(t), is_left);
  return o;
}

Shape leading(const Shape& s, int drop) { return Shape(s.begin(), s.end() - drop); }

char* element_ptr(const Tensor& t, int64_t offset_elems) {
  return static_cast<char*>(t.view().data) +
         offset_elems * static_cast<int64_t>(size_of(t.dtype()));
}

TensorView matrix_view(const Tensor& owner, char* data, int64_t batch, int64_t batch_stride,
                       int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  TensorView v = owner.view();
  v.data = data;
  v.shape = Shape{batch, rows, cols};
  v.strides = Strides{batch_stride, s0, s1};
  return v;
}

void check_operands(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "matmul", "first operand");
  detail::check_defined(b, "matmul", "second operand");
  detail::check_same(a, b, "matmul");
  UNRAVEL_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64,
                "matmul: needs f32 or f64 operands, got {} @ {}", a.desc(), b.desc());
  UNRAVEL_CHECK(a.dim() >= 1 && b.dim() >= 1,
                "matmul: {} @ {}: both operands need at least 1 dimension", a.shape().str(),
                b.shape().str());
}

// C = A @ B without recording. Returns the result in its final (NumPy) shape.
Tensor matmul_kernel(const Tensor& a_in, const Tensor& b_in) {
  check_operands(a_in, b_in);
  const int64_t ka = a_in.shape()[a_in.dim() - 1];
  const int64_t kb = b_in.dim() == 1 ? b_in.shape()[0] : b_in.shape()[b_in.dim() - 2];
  UNRAVEL_CHECK(ka == kb, "matmul: {} @ {}: inner dimensions {} and {} differ",
                a_in.shape().str(), b_in.shape().str(), ka, kb);
  Operand A = gemm_operand(a_in, true), B = gemm_operand(b_in, false);
  const int ra = A.shape.size(), rb = B.shape.size();
  const int64_t m = A.shape[ra - 2], k = ka, n = B.shape[rb - 1];

  // Broadcast the batch dims.
  Shape ab = leading(A.shape, 2), bb = leading(B.shape, 2);
  const int nb = std::max(ab.size(), bb.size());
  Shape batch = Dims::filled(nb, 1);
  for (int i = 0; i < nb; ++i) {
    int ia = i - (nb - ab.size()), ib = i - (nb - bb.size());
    int64_t ea = ia >= 0 ? ab[ia] : 1, eb = ib >= 0 ? bb[ib] : 1;
    UNRAVEL_CHECK(ea == eb || ea == 1 || eb == 1,
                  "matmul: {} @ {}: batch dimensions {} and {} do not broadcast",
                  a_in.shape().str(), b_in.shape().str(), ab.str(), bb.str());
    batch[i] = ea == 1 ? eb : ea;
  }
  Strides sa = broadcast_strides(ab, leading(A.strides, 2), batch);
  Strides sb = broadcast_strides(bb, leading(B.strides, 2), batch);

  Shape c_shape = batch;
  c_shape.push_back(m);
  c_shape.push_back(n);
  Tensor C = Tensor::empty(c_shape, a_in.dtype(), a_in.device());
  Strides sc = leading(C.strides(), 2);
  const int64_t as0 = A.strides[ra - 2], as1 = A.strides[ra - 1];
  const int64_t bs0 = B.strides[rb - 2], bs1 = B.strides[rb - 1];
  Backend& be = backend(a_in.device());

  // Fast path: B is shared by every batch entry and A's (batch..., m) rows form one strided
  // run: a single (batch*m, k) @ (k, n) product.
  bool b_shared = true, a_rows_merge = (as1 == 1 || k == 1);
  int64_t run = m * as0;  // stride the next outer batch dim needs to continue the run
  for (int i = nb - 1; i >= 0; --i) {
    if (batch[i] == 1) continue;
    b_shared = b_shared && sb[i] == 0;
    a_rows_merge = a_rows_merge && sa[i] == run;
    run *= batch[i];
  }
  const int64_t nbatch = numel(batch);
  if (nb > 0 && b_shared && a_rows_merge && as0 >= std::max<int64_t>(1, k)) {
    be.gemm(false, false, 1.0,
            matrix_view(A.t, element_ptr(A.t, 0), 1, 0, nbatch * m, k, as0, as1),
            matrix_view(B.t, element_ptr(B.t, 0), 1, 0, k, n, bs0, bs1), 0.0,
            matrix_view(C, element_ptr(C, 0), 1, 0, nbatch * m, n, n, 1), gemm_precision(C));
  } else {
    // Collapse batch dims (drop extent-1 dims, merge dims contiguous in all three operands);
    // the innermost becomes gemm's batch, the rest are looped over here.
    std::vector<int64_t> ext, da, db, dc;
    for (int i = 0; i < nb; ++i) {
      if (batch[i] == 1) continue;
      if (!ext.empty() && da.back() == sa[i] * batch[i] && db.back() == sb[i] * batch[i] &&
          dc.back() == sc[i] * batch[i]) {
        ext.back() *= batch[i];
        da.back() = sa[i];
        db.back() = sb[i];
        dc.back() = sc[i];
        continue;
      }
      ext.push_back(batch[i]);
      da.push_back(sa[i]);
      db.push_back(sb[i]);
      dc.push_back(sc[i]);
    }
    if (ext.empty()) {
      ext = {1};
      da = db = dc = {0};
    }
    const int outer = static_cast<int>(ext.size()) - 1;
    int64_t n_outer = 1;
    for (int i = 0; i < outer; ++i) n_outer *= ext[i];
    std::vector<int64_t> idx(std::max(outer, 1), 0);
    for (int64_t it = 0; it < n_outer; ++it) {
      int64_t oa = 0, ob = 0, oc = 0;
      for (int i = 0; i < outer; ++i) {
        oa += idx[i] * da[i];
        ob += idx[i] * db[i];
        oc += idx[i] * dc[i];
      }
      be.gemm(false, false, 1.0,
              matrix_view(A.t, element_ptr(A.t, oa), ext[outer], da[outer], m, k, as0, as1),
              matrix_view(B.t, element_ptr(B.t, ob), ext[outer], db[outer], k, n, bs0, bs1), 0.0,
              matrix_view(C, element_ptr(C, oc), ext[outer], dc[outer], m, n, n, 1),
              gemm_precision(C));
      for (int i = outer - 1; i >= 0; --i) {
        if (++idx[i] < ext[i]) break;
        idx[i] = 0;
      }
    }
  }

  // Drop the dims that 1-D operands added.
  Shape out = batch;
  if (a_in.dim() > 1) out.push_back(m);
  if (b_in.dim() > 1) out.push_back(n);
  if (out == c_shape) return C;
  return Tensor::make_view(C.storage(), 0, out, contiguous_strides(out), C.dtype());
}

struct MatmulBackward final : Node {
  SavedTensor a, b;  // a is kept only when B needs a gradient, b only when A does
  Shape a_shape, b_shape;
  const char* name() const override { return "matmul"; }

  TensorList backward(const TensorList& grads) override {
    // Work in the promoted shapes: A_ (..., m, k), B_ (..., k, n), G (batch..., m, n).
    Shape pa = a_shape.size() == 1 ? Shape{1, a_shape[0]} : a_shape;
    Shape pb = b_shape.size() == 1 ? Shape{b_shape[0], 1} : b_shape;
    const int64_t m = pa[pa.size() - 2], k = pa[pa.size() - 1], n = pb[pb.size() - 1];
    Shape full = broadcast_shapes(leading(pa, 2), leading(pb, 2), name());
    full.push_back(m);
    full.push_back(n);
    Tensor G = reshape(grads[0], full);
    Tensor ga, gb;
    if (needs_input_grad(0)) {
      Tensor B_ = reshape(b.get(name()), pb);
      ga = reshape(sum_to(matmul(G, transpose(B_, -1, -2)), pa), a_shape);
    }
    if (needs_input_grad(1)) {
      Tensor A_ = reshape(a.get(name()), pa);
      if (pb.size() == 2 && G.dim() > 2) {
        // B is shared by every batch entry (so A_ has the full batch): one
        // (k, batch*m) @ (batch*m, n) product instead of a batch of products and a sum.
        gb = matmul(transpose(reshape(A_, Shape{-1, k}), 0, 1), reshape(G, Shape{-1, n}));
      } else {
        gb = sum_to(matmul(transpose(A_, -1, -2), G), pb);
      }
      gb = reshape(gb, b_shape);
    }
    return {ga, gb};
  }
};

struct LinearBackward final : Node {
  SavedTensor x, w;
  Shape x_shape;
  const char* name() const override { return "linear"; }

  TensorList backward(const TensorList& grads) override {
    const int64_t out = grads[0].shape()[grads[0].dim() - 1];
    Tensor g2 = reshape(grads[0], Shape{-1, out});
    Tensor gx, gw, gbias;
    if (needs_input_grad(0)) gx = reshape(matmul(g2, w.get(name())), x_shape);
    if (needs_input_grad(1)) {
      const Tensor& X = x.get(name());
      gw = matmul(transpose(g2, 0, 1), reshape(X, Shape{-1, X.shape()[X.dim() - 1]}));
    }
    if (needs_input_grad(2)) gbias = sum(g2, {0});
    return {gx, gw, gbias};
  }
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor c = matmul_kernel(a, b);
  if (Tape::needs_grad({&a, &b})) {
    auto* node = record<MatmulBackward>({a, b}, {c});
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    if (b.requires_grad()) node->a = SavedTensor(a);
    if (a.requires_grad()) node->b = SavedTensor(b);
  }
  return c;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  detail::check_defined(x, "linear", "input x");
  detail::check_defined(w, "linear", "weight w");
  detail::check_same(x, w, "linear");
  UNRAVEL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
                "linear: needs f32 or f64 tensors, got x {} and w {}", x.desc(), w.desc());
  UNRAVEL_CHECK(w.dim() == 2, "linear: w must be 2-D (out, in), got {}", w.desc());
  UNRAVEL_CHECK(x.dim() >= 1, "linear: x must have at least 1 dimension, got {}", x.desc());
  const int64_t in = w.shape()[1], out = w.shape()[0];
  UNRAVEL_CHECK(x.shape()[x.dim() - 1] == in,
                "linear: x {} and w {}: in-features {} and {} differ", x.shape().str(),
                w.shape().str(), x.shape()[x.dim() - 1], in);
  if (b.defined()) {
    detail::check_same(x, b, "linear");
    UNRAVEL_CHECK(b.dim() == 1 && b.shape()[0] == out,
                  "linear: bias {} does not match w {} (expected [{}])", b.shape().str(),
                  w.shape().str(), out);
  }
  Shape y_shape = leading(x.shape(), 1);
  y_shape.push_back(out);
  const int64_t rows = numel(leading(x.shape(), 1));

  Tensor x2;
  {
    NoGradGuard ng;  // the views below are internal: the LinearBackward node covers them
    x2 = reshape(x, Shape{rows, in});
  }
  if (!gemm_ready(rows, in, x2.strides()[0], x2.strides()[1])) x2 = dense_copy(x2);
  Tensor w2 = gemm_ready(out, in, w.strides()[0], w.strides()[1]) ? w : dense_copy(w);
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());
  Backend& be = backend(x.device());
  TensorView yv = matrix_view(y, element_ptr(y, 0), 1, 0, rows, out, out, 1);
  double beta = 0.0;
  if (b.defined()) {
    // Pre-broadcast the bias into y (a stride-0 copy); the gemm then accumulates onto it.
    TensorView bv = b.view();
    bv.shape = Shape{rows, out};
    bv.strides = Strides{0, b.strides()[0]};
    TensorView y2 = yv;
    y2.shape = Shape{rows, out};
    y2.strides = Strides{out, 1};
    be.copy(bv, y2);
    beta = 1.0;
  }
  if (rows > 0 && out > 0) {
    be.gemm(false, true, 1.0,
            matrix_view(x2, element_ptr(x2, 0), 1, 0, rows, in, x2.strides()[0], x2.strides()[1]),
            matrix_view(w2, element_ptr(w2, 0), 1, 0, out, in, w2.strides()[0], w2.strides()[1]),
            beta, yv, gemm_precision(y));
  }
  if (Tape::needs_grad({&x, &w, &b})) {
    auto* node = record<LinearBackward>({x, w, b}, {y});
    node->x_shape = x.shape();
    if (x.requires_grad()) node->w = SavedTensor(w);
    if (w.requires_grad()) node->x = SavedTensor(x);
  }
  return y;
}

}  // namespace unravel
