#include "engine/shape.h"

#include <algorithm>

#include "engine/check.h"

namespace unravel {

Dims::Dims(std::initializer_list<int64_t> v) {
  for (int64_t x : v) push_back(x);
}
Dims::Dims(const std::vector<int64_t>& v) {
  for (int64_t x : v) push_back(x);
}
Dims Dims::filled(int n, int64_t value) {
  Dims d;
  d.resize(n, value);
  return d;
}
void Dims::push_back(int64_t v) {
  UNRAVEL_CHECK(n_ < kMaxDims, "tensor rank above {} is not supported", kMaxDims);
  d_[n_++] = v;
}
void Dims::insert(int pos, int64_t v) {
  UNRAVEL_CHECK(n_ < kMaxDims, "tensor rank above {} is not supported", kMaxDims);
  for (int i = n_; i > pos; --i) d_[i] = d_[i - 1];
  d_[pos] = v;
  ++n_;
}
void Dims::erase(int pos) {
  for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
  --n_;
}
void Dims::resize(int n, int64_t v) {
  UNRAVEL_CHECK(n >= 0 && n <= kMaxDims, "tensor rank {} is not supported (max {})", n, kMaxDims);
  for (int i = n_; i < n; ++i) d_[i] = v;
  n_ = n;
}
bool Dims::operator==(const Dims& o) const {
  return n_ == o.n_ && std::equal(begin(), end(), o.begin());
}
std::string Dims::str() const {
  std::string s = "[";
  for (int i = 0; i < n_; ++i) {
    if (i) s += ", ";
    s += std::to_string(d_[i]);
  }
  return s + "]";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t x : s) n *= x;
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st = Dims::filled(s.size(), 1);
  int64_t acc = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

bool is_contiguous(const Shape& s, const Strides& st) {
  // No elements, nothing to lay out: any strides will do. (contiguous_strides treats extents of
  // 0 as 1, which the loop below would otherwise refuse for e.g. [4, 0, 2].)
  for (int64_t x : s)
    if (x == 0) return true;
  int64_t expected = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int n = std::max(a.size(), b.size());
  Shape out = Dims::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    int ia = i - (n - a.size()), ib = i - (n - b.size());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    UNRAVEL_CHECK(da == db || da == 1 || db == 1,
                  "{}: shapes {} and {} cannot be broadcast together (dim {}: {} vs {})", op,
                  a.str(), b.str(), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& s, const Strides& st, const Shape& out) {
  Strides r = Dims::filled(out.size(), 0);
  int off = out.size() - s.size();
  for (int i = 0; i < s.size(); ++i) r[i + off] = (s[i] == 1 && out[i + off] != 1) ? 0 : st[i];
  return r;
}

int normalize_axis(int64_t axis, int rank, const char* op) {
  int64_t a = axis < 0 ? axis + rank : axis;
  UNRAVEL_CHECK(a >= 0 && a < std::max(rank, 1), "{}: axis {} is out of range for a tensor of rank {}",
                op, axis, rank);
  return static_cast<int>(a);
}

std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int rank, const char* op) {
  std::vector<int> r;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) r.push_back(i);
    return r;
  }
  for (int64_t a : axes) r.push_back(normalize_axis(a, rank, op));
  std::sort(r.begin(), r.end());
  for (size_t i = 1; i < r.size(); ++i)
    UNRAVEL_CHECK(r[i] != r[i - 1], "{}: axis {} given twice", op, r[i]);
  return r;
}

}  // namespace unravel
