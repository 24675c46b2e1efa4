// Device-side construction and the per-device constant cache (see creation.h).
#include "ops/creation.h"

#include <map>
#include <mutex>
#include <tuple>

#include "ops/binary.h"
#include "ops/detail.h"
#include "ops/shape_ops.h"

namespace unravel {

Tensor arange(int64_t n, DType dtype, Device device, double start, double step) {
  UNRAVEL_CHECK(n >= 0, "arange: negative length {}", n);
  Tensor y = Tensor::empty(Shape{n}, dtype, device);
  if (n > 0) backend(device).arange(y.view(), start, step);
  return y;
}

Tensor eye(int64_t n, DType dtype, Device device) {
  Tensor i = arange(n, DType::i64, device);
  return to(eq(unsqueeze(i, 1), unsqueeze(i, 0)), dtype);
}

Tensor one_hot(const Tensor& index, int64_t classes, DType dtype) {
  detail::check_defined(index, "one_hot", "index");
  UNRAVEL_CHECK(index.dtype() == DType::i64, "one_hot: index must be i64, got {}", index.desc());
  UNRAVEL_CHECK(classes >= 1, "one_hot: classes must be >= 1, got {}", classes);
  Tensor c = arange(classes, DType::i64, index.device());
  return to(eq(unsqueeze(index, -1), c), dtype);
}

Tensor cached_constant(const std::string& key, Device device, DType dtype,
                       const std::function<Tensor()>& build) {
  using Key = std::tuple<std::string, uint8_t, int, uint8_t>;
  static std::mutex mu;
  static auto* cache = new std::map<Key, Tensor>();  // leaked: may outlive main()
  Key k{key, static_cast<uint8_t>(device.kind), device.index, static_cast<uint8_t>(dtype)};
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache->find(k); it != cache->end()) return it->second;
  }
  Tensor t;
  {
    NoGradGuard ng;
    t = to(to(build(), dtype), device).detach();
  }
  std::lock_guard<std::mutex> lock(mu);
  return cache->emplace(k, t).first->second;
}

std::vector<double> read_scalars(const TensorList& xs) {
  std::vector<double> out(xs.size());
  // Group by device: one f64 vector per device, one transfer each.
  std::map<std::pair<uint8_t, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < xs.size(); ++i) {
    UNRAVEL_CHECK(xs[i].defined() && xs[i].numel() == 1,
                  "read_scalars: entry {} is {}, not a one-element tensor", i,
                  xs[i].defined() ? xs[i].desc() : std::string("undefined"));
    groups[{static_cast<uint8_t>(xs[i].device().kind), xs[i].device().index}].push_back(i);
  }
  NoGradGuard ng;
  for (const auto& [dev, idx] : groups) {
    TensorList parts;
    for (size_t i : idx) parts.push_back(reshape(to(xs[i].detach(), DType::f64), Shape{1}));
    std::vector<double> v = concat(parts, 0).to_vector<double>();
    for (size_t k = 0; k < idx.size(); ++k) out[idx[k]] = v[k];
  }
  return out;
}

}  // namespace unravel
