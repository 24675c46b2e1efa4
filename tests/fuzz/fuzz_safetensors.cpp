// safetensors (engine/io/safetensors.h) from a buffer: the reader under checkpoints and any
// tensor file a user hands over. Every tensor returned must be dense and exactly as large as its
// shape says (its bytes are summed so that ASan sees every one of them read).
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input.safetensors";
  fuzz::guarded(name, [&] {
    const SafetensorsData d = load_safetensors_buffer(data, size, name);
    unsigned sum = 0;
    for (const auto& [n, t] : d.tensors) {
      if (!t.is_contiguous() || !t.device().is_cpu())
        fuzz::bug("tensor '" + n + "' is not a dense CPU tensor: " + t.desc());
      const auto* p = static_cast<const unsigned char*>(t.raw_data());
      for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
    }
    if (sum == 0xdeadbeef) std::fputc('\n', stderr);  // keeps the sum (and the reads) alive
  });
  return 0;
}
