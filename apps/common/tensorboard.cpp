// TensorBoard event files by hand (see tensorboard.h). The messages and field numbers, from
// TensorBoard's event.proto and summary.proto (tensorboard/compat/proto, checked against the
// descriptors of tensorboard 2.21):
//
//   Event          wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
//                  summary = 5 (Summary), session_log = 7 (SessionLog)
//   SessionLog     status = 1 (enum; START = 1)
//   Summary        value = 1 (repeated Value)
//   Summary.Value  tag = 1 (string), simple_value = 2 (float), image = 4 (Image),
//                  histo = 5 (HistogramProto)
//   Summary.Image  height = 1, width = 2, colorspace = 3 (int32), encoded_image_string = 4 (bytes)
//   HistogramProto min = 1, max = 2, num = 3, sum = 4, sum_squares = 5 (double),
//                  bucket_limit = 6, bucket = 7 (repeated double, packed)
//
// Fields are written in number order with proto3 defaults (zeros) included where TensorBoard
// reads them; readers accept either.
#include "apps/common/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;

namespace {

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  // Byte at a time: event files are small (a few kB per logged step), this is not a hot path.
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace pb {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void key(std::string& out, int field, int wire_type) {
  varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void int_field(std::string& out, int field, int64_t v) {
  key(out, field, 0);
  varint(out, static_cast<uint64_t>(v));  // negative: ten bytes of two's complement, as protobuf
}

void double_field(std::string& out, int field, double v) {
  key(out, field, 1);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_le(out, bits, 8);
}

void float_field(std::string& out, int field, float v) {
  key(out, field, 5);
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_le(out, bits, 4);
}

void bytes_field(std::string& out, int field, std::string_view bytes) {
  key(out, field, 2);
  varint(out, bytes.size());
  out.append(bytes);
}

void packed_doubles(std::string& out, int field, const std::vector<double>& v) {
  key(out, field, 2);
  varint(out, v.size() * 8);
  for (double d : v) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    put_le(out, bits, 8);
  }
}

}  // namespace pb

std::string frame_record(std::string_view data) {
  std::string r;
  r.reserve(data.size() + 16);
  put_le(r, data.size(), 8);
  put_le(r, masked_crc32c(r.data(), 8), 4);
  r.append(data);
  put_le(r, masked_crc32c(data.data(), data.size()), 4);
  return r;
}

// --- TbSummary ----------------------------------------------------------------------------------

void TbSummary::scalar(const std::string& tag, double value) {
  std::string v;
  pb::bytes_field(v, 1, tag);
  pb::float_field(v, 2, static_cast<float>(value));
  pb::bytes_field(bytes_, 1, v);
}

void TbSummary::image(const std::string& tag, int height, int width, int channels,
                      const std::vector<uint8_t>& png) {
  UNRAVEL_CHECK(height > 0 && width > 0 && (channels == 1 || channels == 3),
                "TensorBoard image '{}': bad size {}x{}x{}", tag, height, width, channels);
  std::string img;
  pb::int_field(img, 1, height);
  pb::int_field(img, 2, width);
  pb::int_field(img, 3, channels);
  pb::bytes_field(img, 4, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
  std::string v;
  pb::bytes_field(v, 1, tag);
  pb::bytes_field(v, 4, img);
  pb::bytes_field(bytes_, 1, v);
}

void TbSummary::histogram(const std::string& tag, const std::vector<double>& values, int buckets) {
  UNRAVEL_CHECK(buckets >= 1, "TensorBoard histogram '{}': needs at least one bucket", tag);
  std::vector<double> x;
  for (double d : values)
    if (std::isfinite(d)) x.push_back(d);
  if (x.empty()) return;
  const auto [lo_it, hi_it] = std::minmax_element(x.begin(), x.end());
  const double lo = *lo_it, hi = *hi_it;
  double sum = 0, sum_sq = 0;
  for (double d : x) {
    sum += d;
    sum_sq += d * d;
  }
  // Bucket i counts values in (limit[i-1], limit[i]]; the first starts at min, the last ends at
  // max (how TensorBoard draws it).
  const int k = hi > lo ? buckets : 1;
  const double width = (hi - lo) / k;
  std::vector<double> limit(static_cast<size_t>(k)), count(static_cast<size_t>(k), 0.0);
  for (int i = 0; i < k; ++i) limit[i] = i + 1 == k ? hi : lo + (i + 1) * width;
  for (double d : x) {
    int i = k == 1 ? 0 : static_cast<int>(std::ceil((d - lo) / width)) - 1;
    i = std::clamp(i, 0, k - 1);
    count[i] += 1;
  }
  std::string h;
  pb::double_field(h, 1, lo);
  pb::double_field(h, 2, hi);
  pb::double_field(h, 3, static_cast<double>(x.size()));
  pb::double_field(h, 4, sum);
  pb::double_field(h, 5, sum_sq);
  pb::packed_doubles(h, 6, limit);
  pb::packed_doubles(h, 7, count);
  std::string v;
  pb::bytes_field(v, 1, tag);
  pb::bytes_field(v, 5, h);
  pb::bytes_field(bytes_, 1, v);
}

// --- EventWriter --------------------------------------------------------------------------------

std::string new_event_file_name(const std::string& dir) {
  static std::atomic<int> counter{0};
  int64_t ts = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string prefix = "events.out.tfevents.";
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) != 0) continue;
      const std::string rest = n.substr(prefix.size());
      const size_t digits = rest.find_first_not_of("0123456789");
      if (digits == 0 || digits == std::string::npos) continue;
      ts = std::max<int64_t>(ts, std::stoll(rest.substr(0, digits)) + 1);
    }
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::strcpy(host, "localhost");
  for (char* c = host; *c; ++c)
    if (*c == '/') *c = '_';
  return prefix + std::to_string(ts) + "." + host + "." + std::to_string(getpid()) + "." +
         std::to_string(counter++);
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  UNRAVEL_CHECK(!ec && fs::is_directory(dir), "cannot create the TensorBoard folder '{}': {}", dir,
                ec ? ec.message() : std::string("not a directory"));
  path_ = (fs::path(dir) / new_event_file_name(dir)).string();
  file_ = std::fopen(path_.c_str(), "wbx");  // x: never replace an existing file
  UNRAVEL_CHECK(file_ != nullptr, "cannot create the TensorBoard event file '{}': {}", path_,
                std::strerror(errno));
  write_event(0, 3, "brain.Event:2");
}

EventWriter::~EventWriter() {
  if (file_) std::fclose(file_);
}

void EventWriter::write(int64_t step, const TbSummary& summary) {
  if (!summary.empty()) write_event(step, 5, summary.bytes());
}

void EventWriter::session_start(int64_t step) {
  std::string log;
  pb::int_field(log, 1, 1);  // status = START
  write_event(step, 7, log);
}

void EventWriter::write_event(int64_t step, int field, std::string_view message) {
  std::string e;
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  pb::double_field(e, 1, now);
  pb::int_field(e, 2, step);
  pb::bytes_field(e, field, message);
  const std::string r = frame_record(e);
  errno = 0;
  const bool ok = std::fwrite(r.data(), 1, r.size(), file_) == r.size() && std::fflush(file_) == 0;
  UNRAVEL_CHECK(ok, "cannot write to the TensorBoard event file '{}': {}", path_,
                errno ? std::strerror(errno) : "write failed");
}

}  // namespace unravel::apps
