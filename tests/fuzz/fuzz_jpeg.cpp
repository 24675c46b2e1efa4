// JPEG (datasets/jpeg.h, libjpeg-turbo) from a buffer, read as grey and as RGB as the image
// datasets (folders, CelebA) do. A decoded image must be exactly width × height × channels bytes
// within the side limit; libjpeg's errors and warnings must come back as errors naming the input.
#include "datasets/jpeg.h"
#include "tests/fuzz/fuzz_common.h"

using namespace unravel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz-input.jpg";
  for (int channels : {1, 3})
    fuzz::guarded(name, [&] {
      const Image8 img = decode_jpeg(data, size, channels, name);
      if (img.width <= 0 || img.height <= 0 || img.width > kMaxImageSide ||
          img.height > kMaxImageSide || img.channels != channels ||
          img.data.size() != static_cast<size_t>(img.width) * img.height * channels)
        fuzz::bug("decode_jpeg returned an inconsistent image");
    });
  return 0;
}
