// IDX (datasets/idx.h), plain or gzip, from a buffer: the MNIST / Fashion-MNIST files. A file
// that loads must hold exactly numel × element size bytes, and its dims must multiply without
// overflow (the MNIST loader indexes images by them).
#include "datasets/idx.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input-idx3-ubyte";
  fuzz::guarded(name, [&] {
    const IdxArray a = read_idx_buffer(data, size, name);
    uint64_t n = 1;
    for (int64_t d : a.dims)
      if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
        fuzz::bug("read_idx accepted dims whose product overflows");
    if (a.data.size() != n * static_cast<uint64_t>(idx_type_size(a.type)))
      fuzz::bug("read_idx returned a data size that does not match its dims");
  });
  return 0;
}
