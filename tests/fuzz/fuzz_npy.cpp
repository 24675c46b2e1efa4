// .npy (engine/io/npy.h) from a buffer, as .npz members and `unravel eval --codes` files are
// read. A file that loads must also survive a write and a re-read unchanged (C order, the same
// bytes): the oracle that catches a reader and a writer disagreeing about the layout.
#include <cstring>

#include "engine/io/npy.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input.npy";
  fuzz::guarded(name, [&] {
    const Tensor t = load_npy_buffer(data, size, name);
    if (!t.is_contiguous() || t.nbytes() != static_cast<size_t>(t.numel()) * size_of(t.dtype()))
      fuzz::bug("load_npy_buffer returned a tensor that is not dense: " + t.desc());
    const std::vector<uint8_t> again = npy_bytes(t);
    const Tensor u = load_npy_buffer(again.data(), again.size(), "rewritten.npy");
    if (u.shape() != t.shape() || u.dtype() != t.dtype() ||
        (t.nbytes() && std::memcmp(u.raw_data(), t.raw_data(), t.nbytes()) != 0))
      fuzz::bug("npy round trip changed " + t.desc() + " into " + u.desc());
  });
  return 0;
}
