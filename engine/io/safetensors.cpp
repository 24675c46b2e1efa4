// safetensors writer and validating reader (format described in safetensors.h). The reader
// checks, in order: the file holds the 8-byte length, the header fits in the file, the header
// is a JSON object, every entry has a known dtype, a non-negative shape and two ordered offsets,
// each byte range matches numel * element size, lies inside the data buffer, and the ranges
// tile the buffer exactly (no overlap, no gap, nothing after the last one), as the reference
// implementation requires.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "engine/check.h"
#include "engine/io/atomic_file.h"
#include "engine/io/host_data.h"

namespace unravel {

namespace {

using Json = nlohmann::ordered_json;
constexpr uint64_t kMaxHeader = 100u << 20;  // the reference reader's limit (100 MB)
constexpr char kMetadataKey[] = "__metadata__";

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::bf16: return "BF16";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {{"F32", DType::f32}, {"F64", DType::f64},
                                                         {"I32", DType::i32}, {"I64", DType::i64},
                                                         {"U8", DType::u8},   {"BOOL", DType::u8},
                                                         {"BF16", DType::bf16}};
  for (const auto& [n, d] : kTable)
    if (s == n) return *out = d, true;
  return false;
}

struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& path, const std::string& name, const Json& v) {
  auto bad = [&](const std::string& why) {
    throw_error(fmt::format("'{}': tensor '{}': {} (entry: {})", path, name, why, v.dump()));
  };
  if (!v.is_object()) bad("entry is not a JSON object");
  Entry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) bad("missing string field 'dtype'");
  if (!parse_st_dtype(dt->get<std::string>(), &e.dtype))
    bad("unsupported dtype '" + dt->get<std::string>() + "' (supported: F32 F64 I32 I64 U8 BOOL)");
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) bad("missing array field 'shape'");
  if (static_cast<int>(sh->size()) > kMaxDims)
    bad(fmt::format("rank {} exceeds the supported maximum {}", sh->size(), kMaxDims));
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
    uint64_t x = d.get<uint64_t>();
    if (x > uint64_t(INT64_MAX)) bad("shape entry overflows int64");
    e.shape.push_back(static_cast<int64_t>(x));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    bad("'data_offsets' must be two non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end) bad(fmt::format("data_offsets [{}, {}] are reversed", e.begin, e.end));
  if (!io_detail::strides_fit(e.shape)) bad("shape overflows int64");
  uint64_t n = 1, bytes = 0;
  for (int64_t d : e.shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) bad("shape overflows");
  if (__builtin_mul_overflow(n, size_of(e.dtype), &bytes)) bad("shape overflows");
  if (bytes != e.end - e.begin)
    bad(fmt::format("dtype {} and shape {} need {} bytes but data_offsets [{}, {}] span {}",
                    dt->get<std::string>(), e.shape.str(), bytes, e.begin, e.end,
                    e.end - e.begin));
  return e;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, Tensor>> order;
  order.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    UNRAVEL_CHECK(!name.empty() && name != kMetadataKey,
                  "save_safetensors('{}'): invalid tensor name '{}'", path, name);
    UNRAVEL_CHECK(t.defined(), "save_safetensors('{}'): tensor '{}' is undefined", path, name);
    order.emplace_back(name, io_detail::host_contiguous(t));
  }
  // Largest element size first keeps every tensor aligned to its element size (the header is
  // padded to 8 bytes), with no gaps between tensors.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return size_of(a.second.dtype()) > size_of(b.second.dtype());
  });

  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    Json entry = Json::object();
    entry["dtype"] = st_dtype_name(t.dtype());
    entry["shape"] = t.shape().vec();
    entry["data_offsets"] = {offset, offset + t.nbytes()};
    header[name] = std::move(entry);
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>((uint64_t(text.size()) >> (8 * b)) & 0xFF);

  AtomicFile out(path);
  out.write(len, sizeof len);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : order) out.write(t.raw_data(), t.nbytes());
  out.commit();
}

namespace {

// The reader proper: `size` bytes read through `read`; `path` names the input in errors.
// With `with_data` false it stops after the header and the layout are validated.
SafetensorsData parse(const std::string& path, uint64_t size, const io_detail::ByteReader& read,
                      bool with_data = true) {
  UNRAVEL_CHECK(size >= 8, "'{}' is not a safetensors file: truncated to {} bytes (needs at "
                "least the 8-byte header length)", path, size);
  unsigned char len[8];
  read(0, len, 8, "the header length");
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= uint64_t(len[b]) << (8 * b);
  UNRAVEL_CHECK(n <= size - 8,
                "'{}' is truncated or corrupt: header length {} goes beyond the file size {}", path,
                n, size);
  UNRAVEL_CHECK(n <= kMaxHeader, "'{}': header length {} exceeds the 100 MB limit", path, n);
  std::string text(n, '\0');
  read(8, text.data(), n, "the JSON header");
  Json header;
  try {
    header = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    throw_error(fmt::format("'{}': the safetensors header is not valid JSON: {}", path, e.what()));
  }
  UNRAVEL_CHECK(header.is_object(), "'{}': the safetensors header is not a JSON object", path);

  SafetensorsData out;
  std::vector<Entry> entries;
  for (const auto& [key, v] : header.items()) {
    if (key == kMetadataKey) {
      UNRAVEL_CHECK(v.is_object(), "'{}': __metadata__ must be an object of strings", path);
      for (const auto& [mk, mv] : v.items()) {
        UNRAVEL_CHECK(mv.is_string(), "'{}': __metadata__ value of '{}' is not a string", path, mk);
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, v));
  }

  const uint64_t data_start = 8 + n, data_size = size - data_start;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    UNRAVEL_CHECK(e.end <= data_size,
                  "'{}' is truncated or corrupt: tensor '{}' has data_offsets [{}, {}] beyond the "
                  "data buffer of {} bytes", path, e.name, e.begin, e.end, data_size);
    UNRAVEL_CHECK(e.begin >= expect, "'{}': tensor '{}' [{}, {}) overlaps tensor '{}' [{}, {})",
                  path, e.name, e.begin, e.end, prev ? prev->name : "", prev ? prev->begin : 0,
                  expect);
    UNRAVEL_CHECK(e.begin == expect, "'{}': gap of {} unindexed bytes before tensor '{}'", path,
                  e.begin - expect, e.name);
    expect = e.end;
    prev = &e;
  }
  UNRAVEL_CHECK(expect == data_size, "'{}': {} trailing bytes after the last tensor's data", path,
                data_size - expect);
  if (!with_data) return out;

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, kCPU);
    std::string what = "tensor '" + e.name + "'";
    read(data_start + e.begin, t.raw_data(), e.end - e.begin, what.c_str());
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace

SafetensorsData load_safetensors(const std::string& path) {
  io_detail::InputFile f(path);
  return parse(path, f.size(), f.reader());
}

void check_safetensors(const std::string& path) {
  io_detail::InputFile f(path);
  (void)parse(path, f.size(), f.reader(), false);
}

SafetensorsData load_safetensors_buffer(const void* data, size_t size, const std::string& name) {
  return parse(name, size, io_detail::buffer_reader(data, size, name));
}

}  // namespace unravel
