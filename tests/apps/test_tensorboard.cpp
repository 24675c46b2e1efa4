// TensorBoard event files (apps/common/tensorboard.h): CRC-32C against published vectors, the
// masked CRC and protobuf encodings against values from TensorBoard's own Python code and
// protobuf descriptors, record framing re-read by hand, file naming order and error messages.
// tests/python/test_tensorboard.py reads what `unravel train` writes with TensorBoard's reader.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/common/tensorboard.h"
#include "apps_test_util.h"

using namespace unravel;
using namespace unravel::apps;
using namespace unravel::test_apps;
namespace fs = std::filesystem;

namespace {

std::string hex(const std::string& s) {
  std::string h;
  for (unsigned char c : s) h += fmt::format("{:02x}", c);
  return h;
}

uint64_t le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The records of an event file, each checked: length CRC, data CRC, nothing left over.
std::vector<std::string> read_records(const std::string& path) {
  const std::string f = slurp(path);
  std::vector<std::string> out;
  size_t at = 0;
  while (at < f.size()) {
    REQUIRE(at + 12 <= f.size());
    const uint64_t n = le(f, at, 8);
    CHECK(le(f, at + 8, 4) == masked_crc32c(f.data() + at, 8));
    REQUIRE(at + 12 + n + 4 <= f.size());
    std::string data = f.substr(at + 12, n);
    CHECK(le(f, at + 12 + n, 4) == masked_crc32c(data.data(), data.size()));
    out.push_back(data);
    at += 12 + n + 4;
  }
  CHECK(at == f.size());
  return out;
}

}  // namespace

TEST_CASE("tensorboard: CRC-32C vectors and the masked CRC") {
  const std::string digits = "123456789";
  CHECK(crc32c(digits.data(), digits.size()) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of ones, and 0, 1, ..., 31.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<uint8_t>(i);
  CHECK(crc32c(zeros.data(), 32) == 0x8A9136AAu);
  CHECK(crc32c(ones.data(), 32) == 0x62A8AB43u);
  CHECK(crc32c(inc.data(), 32) == 0x46DD794Eu);
  // Continuing a CRC over a split buffer.
  CHECK(crc32c(digits.data() + 4, 5, crc32c(digits.data(), 4)) == 0xE3069283u);
  // Masked values from tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
  CHECK(masked_crc32c(digits.data(), digits.size()) == 0xc78ab0e5u);
  CHECK(masked_crc32c("", 0) == 0xa282ead8u);
  const uint8_t twenty[8] = {20, 0, 0, 0, 0, 0, 0, 0};
  CHECK(masked_crc32c(twenty, 8) == 0x15293d5eu);
}

TEST_CASE("tensorboard: protobuf varints, keys and fixed-width fields") {
  auto v = [](uint64_t x) {
    std::string s;
    pb::varint(s, x);
    return hex(s);
  };
  CHECK(v(0) == "00");
  CHECK(v(1) == "01");
  CHECK(v(127) == "7f");
  CHECK(v(128) == "8001");
  CHECK(v(300) == "ac02");
  CHECK(v(UINT64_MAX) == "ffffffffffffffffff01");
  std::string s;
  pb::int_field(s, 2, -1);  // int64 -1: ten bytes
  CHECK(hex(s) == "10ffffffffffffffffff01");
  s.clear();
  pb::key(s, 7, 2);
  CHECK(hex(s) == "3a");
  s.clear();
  pb::double_field(s, 1, 1.0);
  CHECK(hex(s) == "09000000000000f03f");
  s.clear();
  pb::float_field(s, 2, 1.5f);
  CHECK(hex(s) == "150000c03f");
  s.clear();
  pb::bytes_field(s, 3, "brain.Event:2");
  CHECK(s == std::string("\x1a\x0d") + "brain.Event:2");
}

TEST_CASE("tensorboard: summaries serialize as TensorBoard's protobuf classes do") {
  // The expected bytes are Summary(...).SerializeToString() of tensorboard 2.21's summary_pb2.
  TbSummary scalar;
  scalar.scalar("loss", 1.5);
  CHECK(hex(scalar.bytes()) == "0a0b0a046c6f7373150000c03f");
  TbSummary histo;
  histo.histogram("h", {1, 2, 3, 4, std::nan("")}, 2);  // buckets (1, 2.5], (2.5, 4]; NaN skipped
  CHECK(hex(histo.bytes()) ==
        "0a560a01682a5109000000000000f03f110000000000001040190000000000001040210000000000002440"
        "290000000000003e403210000000000000044000000000000010403a10000000000000004000000000000000"
        "40");
  TbSummary image;
  image.image("im", 2, 3, 1, {'P', 'N', 'G'});
  CHECK(hex(image.bytes()) == "0a110a02696d220b0802100318012203504e47");
  TbSummary nothing;
  nothing.histogram("empty", {});
  CHECK(nothing.empty());
}

TEST_CASE("tensorboard: an event file is framed records: version, summaries, session start") {
  const std::string dir = temp_dir("tb_events");
  std::string path;
  {
    EventWriter w(dir + "/tb");  // created
    path = w.path();
    CHECK(fs::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
    w.session_start(11);
    TbSummary s;
    s.scalar("loss", 1.5);
    w.write(12, s);
    w.write(13, TbSummary{});  // empty: no event
    // Flushed as written: the file is complete before the writer closes.
    CHECK(read_records(path).size() == 3);
  }
  std::vector<std::string> r = read_records(path);
  REQUIRE(r.size() == 3);
  // Event: wall_time (field 1, fixed64) = now, step (2, varint), then the payload field.
  for (const std::string& e : r) {
    REQUIRE(e.size() > 11);
    CHECK(e[0] == '\x09');
    double wall;
    std::memcpy(&wall, e.data() + 1, 8);
    CHECK(wall > 1.6e9);
    CHECK(e[9] == '\x10');
  }
  CHECK(r[0].substr(10) == std::string("\x00\x1a\x0d", 3) + "brain.Event:2");  // step 0, version
  CHECK(hex(r[1].substr(10)) == "0b3a020801");  // step 11, session_log (7) {status: START}
  CHECK(hex(r[2].substr(10)) == "0c2a0d0a0b0a046c6f7373150000c03f");  // step 12, summary (5)

  // A second file sorts after the first (TensorBoard reads a folder in name order), also when
  // a file there claims a later time.
  {
    EventWriter w2(dir + "/tb");
    CHECK(w2.path() > path);
  }
  std::ofstream(dir + "/tb/events.out.tfevents.4000000000.elsewhere.1.0").put('x');
  const std::string next = new_event_file_name(dir + "/tb");
  CHECK(next.rfind("events.out.tfevents.4000000001.", 0) == 0);
  fs::remove_all(dir);
}

TEST_CASE("tensorboard: an unwritable folder is refused naming it") {
  const std::string dir = temp_dir("tb_bad");
  fs::create_directories(dir);
  std::ofstream(dir + "/file").put('x');
  const std::string bad = dir + "/file/tb";
  std::string msg = error_of([&] { EventWriter w(bad); });
  CHECK(msg.find(bad) != std::string::npos);
  CHECK(msg.find("TensorBoard") != std::string::npos);
  fs::remove_all(dir);
}
