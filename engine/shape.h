// Shapes and strides: small fixed-capacity vectors of int64 (rank <= kMaxDims), with the
// helpers every op needs: numel, contiguous strides, NumPy broadcasting, axis normalisation.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace unravel {

inline constexpr int kMaxDims = 8;

/// A vector of at most kMaxDims int64 values stored inline (no heap allocation per op).
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v);
  explicit Dims(const std::vector<int64_t>& v);
  template <class It> Dims(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }
  /// n copies of value.
  static Dims filled(int n, int64_t value);

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + n_; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  const int64_t* data() const { return d_.data(); }
  int64_t back() const { return d_[n_ - 1]; }
  void push_back(int64_t v);
  void insert(int pos, int64_t v);
  void erase(int pos);
  void resize(int n, int64_t v = 0);
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  /// "[2, 3, 4]".
  std::string str() const;

 private:
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

using Shape = Dims;
using Strides = Dims;

/// Product of the extents (1 for a scalar).
int64_t numel(const Shape& s);
/// Row-major strides, in elements.
Strides contiguous_strides(const Shape& s);
/// True when strides describe a dense row-major layout (size-1 dims ignored).
bool is_contiguous(const Shape& s, const Strides& st);
/// NumPy broadcast of two shapes; throws naming both shapes and `op` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Strides that view a tensor of shape `s` (strides `st`) as broadcast to `out` (0 strides).
Strides broadcast_strides(const Shape& s, const Strides& st, const Shape& out);
/// Wraps a possibly negative axis into [0, rank); throws naming `op` when out of range.
int normalize_axis(int64_t axis, int rank, const char* op);
/// Sorted unique normalised axes; empty input means "all axes".
std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int rank, const char* op);

}  // namespace unravel
