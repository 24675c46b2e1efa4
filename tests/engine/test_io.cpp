// Tensor files: .npy round trips for every dtype, hand-crafted files (Fortran order, v2/v3
// headers, bool), corrupt and truncated inputs; safetensors round trips, the exact header bytes,
// validation errors, and atomic replacement when a write fails.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "ops/ops.h"

using namespace unravel;
namespace fs = std::filesystem;

namespace {

// A fresh temporary directory removed at scope exit.
struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() /
          ("unravel_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// An .npy file: preamble for `major`, the dict padded to 64 bytes, then `data`.
std::string npy_file(int major, const std::string& dict, const std::string& data) {
  size_t pre = major == 1 ? 10 : 12;
  size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
  size_t hlen = total - pre;
  std::string out = "\x93NUMPY";
  out += char(major);
  out += char(0);
  for (size_t b = 0; b < (major == 1 ? 2u : 4u); ++b) out += char((hlen >> (8 * b)) & 0xFF);
  out += dict;
  out.append(hlen - dict.size() - 1, ' ');
  out += '\n';
  return out + data;
}
template <class T> std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A safetensors file from a header JSON text and data bytes.
std::string st_file(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int b = 0; b < 8; ++b) out[b] = char((n >> (8 * b)) & 0xFF);
  return out + json + data;
}

template <class T> void check_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.dtype() == b.dtype());
  CHECK(a.to_vector<T>() == b.to_vector<T>());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("npy: round trip of every dtype through a file and a buffer") {
  TempDir tmp;
  Generator gen(7);
  Tensor f32 = normal(Shape{3, 5}, gen);
  Tensor f64 = normal(Shape{2, 3, 4}, gen, 0, 1, DType::f64);
  Tensor i32 = Tensor::from_vector<int32_t>({-3, 0, 7, 2147483647}, Shape{4});
  Tensor i64 = Tensor::from_vector<int64_t>({-5, int64_t(1) << 40}, Shape{2, 1});
  Tensor u8 = Tensor::from_vector<uint8_t>({0, 1, 255, 128, 3, 9}, Shape{1, 2, 3});
  Tensor s = Tensor::scalar(2.5, DType::f64);
  auto both = [&](const Tensor& t, const std::string& name, auto tag) {
    using T = decltype(tag);
    std::string path = tmp.file(name + ".npy");
    save_npy(path, t);
    check_same<T>(load_npy(path), t);
    auto bytes = npy_bytes(t);
    CHECK(bytes.size() == fs::file_size(path));
    check_same<T>(load_npy_buffer(bytes.data(), bytes.size(), name), t);
    CHECK((10 + (bytes[8] | (bytes[9] << 8))) % 64 == 0);  // data aligned to 64
  };
  both(f32, "f32", float{});
  both(f64, "f64", double{});
  both(i32, "i32", int32_t{});
  both(i64, "i64", int64_t{});
  both(u8, "u8", uint8_t{});
  both(s, "scalar", double{});
  both(Tensor::zeros(Shape{0, 3}), "empty", float{});

  // The header is exactly what NumPy writes.
  auto bytes = npy_bytes(i32);
  size_t head_len = 10 + (bytes[8] | (bytes[9] << 8));
  CHECK(head_len == 128);
  std::string head(bytes.begin(), bytes.begin() + head_len);
  CHECK(head.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }";
  CHECK(head.substr(10, dict.size()) == dict);
  CHECK(head.back() == '\n');
  CHECK(head == npy_file(1, dict, ""));  // magic, version, length, dict, space padding, '\n'
  std::string d3(reinterpret_cast<const char*>(npy_bytes(f64).data()) + 10, 62);
  CHECK(d3.find("'shape': (2, 3, 4)") != std::string::npos);
  CHECK(d3.find("'descr': '<f8'") != std::string::npos);
  std::string d0(reinterpret_cast<const char*>(npy_bytes(s).data()) + 10, 54);
  CHECK(d0.find("'shape': ()") != std::string::npos);
  CHECK(read_npy_header(tmp.file("u8.npy")).descr == "|u1");
}

TEST_CASE("npy: non-contiguous tensors are written in row-major order") {
  TempDir tmp;
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor xt = transpose(x, 0, 1);
  save_npy(tmp.file("t.npy"), xt);
  Tensor y = load_npy(tmp.file("t.npy"));
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("npy: hand-crafted files (Fortran order, v2 and v3 headers, bool)") {
  TempDir tmp;
  // Fortran order (2, 3): memory holds columns [a00 a10] [a01 a11] [a02 a12].
  std::string fo = npy_file(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                            raw<double>({1, 4, 2, 5, 3, 6}));
  write_bytes(tmp.file("fortran.npy"), fo);
  Tensor f = load_npy(tmp.file("fortran.npy"));
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.is_contiguous());
  CHECK(f.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  // Rank-3 Fortran order: element (i, j, k) sits at i + 2 j + 6 k.
  std::vector<int32_t> col(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) col[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
  std::string f3 = npy_file(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }",
                            raw(col));
  Tensor t3 = load_npy_buffer(f3.data(), f3.size(), "f3");
  auto v3 = t3.to_vector<int32_t>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) CHECK(v3[i * 12 + j * 4 + k] == 100 * i + 10 * j + k);

  // Version 2.0 and 3.0 headers (4-byte length), double-quoted keys, no trailing comma.
  std::string v2 = npy_file(2, "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (3,)}",
                            raw<int64_t>({9, -8, 7}));
  Tensor t2 = load_npy_buffer(v2.data(), v2.size(), "v2");
  CHECK(t2.dtype() == DType::i64);
  CHECK(t2.to_vector<int64_t>() == std::vector<int64_t>{9, -8, 7});
  std::string v3f = npy_file(3, "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4', }",
                             raw<float>({0.5f, -2.f}));
  write_bytes(tmp.file("v3.npy"), v3f);
  CHECK(read_npy_header(tmp.file("v3.npy")).major_version == 3);
  CHECK(load_npy(tmp.file("v3.npy")).to_vector<float>() == std::vector<float>{0.5f, -2.f});

  // Bool loads as u8.
  std::string b = npy_file(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }",
                           std::string("\x01\x00\x00\x01", 4));
  Tensor tb = load_npy_buffer(b.data(), b.size(), "bool");
  CHECK(tb.dtype() == DType::u8);
  CHECK(tb.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 0, 1});
}

TEST_CASE("npy: corrupt, truncated and unsupported files give clear errors") {
  TempDir tmp;
  std::string good = npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                              raw<float>({1, 2, 3, 4}));
  auto err = [&](const std::string& bytes) {
    std::string path = tmp.file("bad.npy");
    write_bytes(path, bytes);
    std::string e = error_of([&] { load_npy(path); });
    CHECK(e.find(path) != std::string::npos);  // every error names the file
    return e;
  };
  CHECK(err(good.substr(0, good.size() - 3)).find("truncated") != std::string::npos);
  CHECK(err(good.substr(0, 40)).find("truncated") != std::string::npos);
  CHECK(err(good.substr(0, 4)).find("not an .npy file") != std::string::npos);
  CHECK(err("PK\x03\x04" + good.substr(4)).find("bad magic") != std::string::npos);
  CHECK(err(good + "xx").find("trailing") != std::string::npos);
  std::string f2 = npy_file(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", "abcd");
  CHECK(err(f2).find("unsupported .npy dtype '<f2'") != std::string::npos);
  std::string be = npy_file(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd");
  CHECK(err(be).find("big-endian") != std::string::npos);
  std::string rec = npy_file(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                             "abcd");
  CHECK(err(rec).find("structured") != std::string::npos);
  std::string nokey = npy_file(1, "{'descr': '<f4', 'shape': (1,), }", "abcd");
  CHECK(err(nokey).find("malformed") != std::string::npos);
  std::string badshape = npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2), }",
                                  "abcd");
  CHECK(err(badshape).find("malformed") != std::string::npos);
  std::string badbool = npy_file(1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }",
                                 "abcd");
  CHECK(err(badbool).find("True or False") != std::string::npos);
  std::string v9 = good;
  v9[6] = 9;
  CHECK(err(v9).find("version 9") != std::string::npos);
  std::string longhdr = good;
  longhdr[8] = char(0xFF);
  longhdr[9] = char(0x7F);
  CHECK(err(longhdr).find("truncated") != std::string::npos);
  CHECK(error_of([&] { load_npy(tmp.file("missing.npy")); }).find("cannot open") !=
        std::string::npos);
  CHECK(error_of([&] { load_npy_buffer(good.data(), 20, "member.npy"); }).find("member.npy") !=
        std::string::npos);
}

TEST_CASE("safetensors: round trip with metadata, every dtype, alignment") {
  TempDir tmp;
  Generator gen(3);
  std::map<std::string, Tensor> ts = {
      {"enc.weight", normal(Shape{4, 3}, gen)},
      {"dec.bias", normal(Shape{5}, gen, 0, 1, DType::f64)},
      {"count", Tensor::from_vector<int64_t>({42}, Shape{})},
      {"idx", Tensor::from_vector<int32_t>({1, -2, 3}, Shape{3})},
      {"mask", Tensor::from_vector<uint8_t>({1, 0, 1}, Shape{3, 1})},
      {"empty", Tensor::zeros(Shape{0, 2})},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "a \"quoted\" ü"}};
  std::string path = tmp.file("m.safetensors");
  save_safetensors(path, ts, meta);
  SafetensorsData d = load_safetensors(path);
  CHECK(d.metadata == meta);
  REQUIRE(d.tensors.size() == ts.size());
  check_same<float>(d.tensors.at("enc.weight"), ts.at("enc.weight"));
  check_same<double>(d.tensors.at("dec.bias"), ts.at("dec.bias"));
  check_same<int64_t>(d.tensors.at("count"), ts.at("count"));
  check_same<int32_t>(d.tensors.at("idx"), ts.at("idx"));
  check_same<uint8_t>(d.tensors.at("mask"), ts.at("mask"));
  check_same<float>(d.tensors.at("empty"), ts.at("empty"));

  // Header length is a multiple of 8 and every tensor starts at a multiple of its element size.
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= uint64_t(uint8_t(bytes[b])) << (8 * b);
  CHECK(n % 8 == 0);
  std::string json = bytes.substr(8, n);
  for (const char* name : {"dec.bias", "count", "enc.weight", "idx", "mask"}) {
    size_t at = json.find(std::string("\"") + name + "\"");
    REQUIRE(at != std::string::npos);
    size_t off = json.find("data_offsets", at);
    uint64_t begin = std::stoull(json.substr(json.find('[', off) + 1));
    size_t elem = size_of(ts.at(name).dtype());
    CHECK((8 + n + begin) % elem == 0);
  }
  // A non-contiguous tensor is stored in row-major order.
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  save_safetensors(path, {{"xt", transpose(x, 0, 1)}});
  CHECK(load_safetensors(path).tensors.at("xt").to_vector<float>() ==
        std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("safetensors: header bytes follow the spec exactly") {
  TempDir tmp;
  std::string path = tmp.file("one.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector<float>({1.f, 2.f}, Shape{2})}},
                   {{"k", "v"}});
  std::string bytes = read_bytes(path);
  std::string json = R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  std::string expect = st_file(padded, raw<float>({1.f, 2.f}));
  CHECK(bytes == expect);
  CHECK(bytes.size() % 8 == 0);
}

TEST_CASE("safetensors: corrupt and truncated files give errors naming file and tensor") {
  TempDir tmp;
  std::string path = tmp.file("bad.safetensors");
  auto err = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    std::string e = error_of([&] { load_safetensors(path); });
    CHECK(e.find(path) != std::string::npos);
    CHECK(error_of([&] { check_safetensors(path); }) == e);  // the header alone finds each
    return e;
  };
  const std::string data16 = raw<float>({1, 2, 3, 4});
  std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  write_bytes(path, st_file(ok, data16));
  CHECK(load_safetensors(path).tensors.at("w").to_vector<float>() == std::vector<float>{1, 2, 3, 4});
  CHECK_NOTHROW(check_safetensors(path));
  CHECK(err("abc").find("truncated") != std::string::npos);
  CHECK(err(st_file(ok, data16).substr(0, 30)).find("header length") != std::string::npos);
  std::string trunc = err(st_file(ok, data16.substr(0, 10)));
  CHECK(trunc.find("'w'") != std::string::npos);
  CHECK(trunc.find("beyond") != std::string::npos);
  CHECK(err(st_file("{\"w\": [1,", data16)).find("not valid JSON") != std::string::npos);
  CHECK(err(st_file("[1, 2]", "")).find("not a JSON object") != std::string::npos);
  std::string mism = err(st_file(R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})",
                                 data16));
  CHECK(mism.find("tensor 'w'") != std::string::npos);
  CHECK(mism.find("need 24 bytes") != std::string::npos);
  CHECK(err(st_file(R"({"w":{"dtype":"F64","shape":[2,2],"data_offsets":[0,16]}})", data16))
            .find("need 32 bytes") != std::string::npos);
  CHECK(err(st_file(R"({"h":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}})", data16))
            .find("unsupported dtype 'F16'") != std::string::npos);
  std::string overlap = err(st_file(
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      data16));
  CHECK(overlap.find("overlaps") != std::string::npos);
  CHECK(overlap.find("'b'") != std::string::npos);
  CHECK(err(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data16))
            .find("gap") != std::string::npos);
  CHECK(err(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16))
            .find("trailing") != std::string::npos);
  CHECK(err(st_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}})", data16))
            .find("non-negative") != std::string::npos);
  CHECK(err(st_file(R"({"a":{"dtype":"F32","shape":[4]}})", data16)).find("data_offsets") !=
        std::string::npos);
  CHECK(err(st_file(R"({"__metadata__":{"k":3}})", "")).find("not a string") != std::string::npos);
  std::string huge = st_file(ok, data16);
  huge[7] = char(0x10);
  CHECK(err(huge).find("beyond the file size") != std::string::npos);
}

TEST_CASE("npy/safetensors: shapes that hold no bytes yet overflow the strides (fuzz_npy)") {
  // (4, 1, 0, 2874406073709551614): zero elements, so zero data bytes, but the row-major
  // strides of its other extents overflow int64.
  std::string npy = npy_file(
      1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 1, 0, 2874406073709551614), }", "");
  CHECK(error_of([&] { load_npy_buffer(npy.data(), npy.size(), "zero.npy"); })
            .find("'zero.npy': .npy shape [4, 1, 0, 2874406073709551614] overflows int64") !=
        std::string::npos);
  std::string st = st_file(
      R"({"z":{"dtype":"U8","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})", "");
  CHECK(error_of([&] { load_safetensors_buffer(st.data(), st.size(), "zero.safetensors"); })
            .find("tensor 'z': shape overflows int64") != std::string::npos);
  // Zero-size tensors whose strides fit still load.
  std::string ok = npy_file(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 0, 2), }", "");
  CHECK(load_npy_buffer(ok.data(), ok.size()).shape() == Shape{3, 0, 2});
}

TEST_CASE("safetensors: out-of-range JSON numbers are refused naming the file (fuzz_safetensors)") {
  // nlohmann reports 1e400 as out_of_range, not as a parse_error: it escaped the message that
  // names the file.
  std::string st = st_file(R"({"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,0]}})", "");
  const std::string e = error_of([&] { load_safetensors_buffer(st.data(), st.size(), "big.st"); });
  CHECK(e.find("'big.st': the safetensors header is not valid JSON") != std::string::npos);
  CHECK(e.find("number overflow") != std::string::npos);
}

TEST_CASE("safetensors: a buffer reads exactly what the file reads") {
  TempDir tmp;
  const std::string path = tmp.file("t.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector<double>({1, 2, 3}, Shape{3})},
                          {"b", Tensor::from_vector<uint8_t>({7, 8}, Shape{1, 2})}},
                   {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  const SafetensorsData f = load_safetensors(path);
  const SafetensorsData m = load_safetensors_buffer(bytes.data(), bytes.size(), "mem");
  CHECK(m.metadata == f.metadata);
  REQUIRE(m.tensors.size() == 2);
  check_same<double>(m.tensors.at("a"), f.tensors.at("a"));
  check_same<uint8_t>(m.tensors.at("b"), f.tensors.at("b"));
  CHECK(error_of([&] { load_safetensors_buffer(bytes.data(), bytes.size() - 1, "mem"); })
            .find("'mem'") != std::string::npos);
}

TEST_CASE("safetensors/npy: a failed write leaves the previous file intact") {
  TempDir tmp;
  std::string path = tmp.file("ckpt.safetensors");
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  save_safetensors(path, {{"a", a}}, {{"v", "1"}});
  std::string before = read_bytes(path);

  Tensor big = Tensor::ones(Shape{1000});
  detail::inject_atomic_write_failure(200);  // fails inside the data of the second save
  std::string e = error_of([&] { save_safetensors(path, {{"a", big}}, {{"v", "2"}}); });
  CHECK(e.find("injected failure") != std::string::npos);
  CHECK(e.find(path) != std::string::npos);
  CHECK(read_bytes(path) == before);
  SafetensorsData d = load_safetensors(path);
  CHECK(d.metadata.at("v") == "1");
  CHECK(d.tensors.at("a").to_vector<float>() == std::vector<float>{1, 2, 3});
  // No temporary is left behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(tmp.dir)) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);

  // The hook fired once; the next write succeeds and replaces the file.
  save_safetensors(path, {{"a", big}}, {{"v", "2"}});
  CHECK(load_safetensors(path).metadata.at("v") == "2");

  // Same for .npy.
  std::string npath = tmp.file("x.npy");
  save_npy(npath, a);
  detail::inject_atomic_write_failure(100);
  CHECK_THROWS_AS(save_npy(npath, big), Error);
  CHECK(load_npy(npath).to_vector<float>() == std::vector<float>{1, 2, 3});

  // A directory that does not exist: the error names the target.
  CHECK(error_of([&] { save_npy(tmp.file("nodir/x.npy"), a); }).find("nodir/x.npy") !=
        std::string::npos);
}
