// PNG (datasets/png.h, libpng's simplified API) from a buffer, read as grey and as RGB as the
// image-folder dataset does. A decoded image must be exactly width × height × channels bytes.
#include "datasets/png.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input.png";
  for (int channels : {1, 3})
    fuzz::guarded(name, [&] {
      const Image8 img = read_png_buffer(data, size, channels, name);
      if (img.width <= 0 || img.height <= 0 || img.channels != channels ||
          img.data.size() != static_cast<size_t>(img.width) * img.height * channels)
        fuzz::bug("read_png_buffer returned an inconsistent image");
    });
  return 0;
}
