// .npz reading and writing with libzip (datasets/npz.h). Reading decompresses a member fully
// into memory (libzip checks its CRC at the end of the stream) and hands the bytes to
// load_npy_buffer; every error names "<file>" and "<member>.npy".
#include "datasets/npz.h"

#include <zip.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "engine/check.h"
#include "engine/io/npy.h"

namespace unravel {

namespace {

std::string zip_error_text(int code) {
  zip_error_t err;
  zip_error_init_with_code(&err, code);
  std::string s = zip_error_strerror(&err);
  zip_error_fini(&err);
  return s;
}

std::string archive_error(::zip* za) { return zip_error_strerror(zip_get_error(za)); }

}  // namespace

NpzReader::NpzReader(const std::string& path) : path_(path) {
  int code = 0;
  za_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
  UNRAVEL_CHECK(za_ != nullptr, "npz: cannot open '{}': {}", path, zip_error_text(code));
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (!ec) archive_size_ = bytes;
}

NpzReader::NpzReader(const void* data, size_t size, const std::string& name) : path_(name) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(data, size, 0, &err);
  if (src) {
    za_ = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (!za_) zip_source_free(src);  // on success the archive owns the source
  }
  const std::string msg = zip_error_strerror(&err);
  zip_error_fini(&err);
  UNRAVEL_CHECK(za_ != nullptr, "npz: cannot open '{}': {}", name, msg);
  archive_size_ = size;
}

NpzReader::~NpzReader() {
  if (za_) zip_discard(za_);
}

std::vector<std::string> NpzReader::members() const {
  std::vector<std::string> out;
  const zip_int64_t n = zip_get_num_entries(za_, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* nm = zip_get_name(za_, static_cast<zip_uint64_t>(i), 0);
    if (!nm) continue;
    std::string s = nm;
    if (s.size() > 4 && s.compare(s.size() - 4, 4, ".npy") == 0) out.push_back(s.substr(0, s.size() - 4));
  }
  return out;
}

int64_t NpzReader::locate(const std::string& name) const {
  return zip_name_locate(za_, (name + ".npy").c_str(), 0);
}

bool NpzReader::has(const std::string& name) const { return locate(name) >= 0; }

uint64_t NpzReader::member_size(const std::string& name) const {
  const int64_t idx = locate(name);
  UNRAVEL_CHECK(idx >= 0, "npz '{}': no member '{}.npy'", path_, name);
  zip_stat_t st;
  zip_stat_init(&st);
  UNRAVEL_CHECK(zip_stat_index(za_, static_cast<zip_uint64_t>(idx), 0, &st) == 0,
                "npz '{}': cannot stat member '{}.npy': {}", path_, name, archive_error(za_));
  UNRAVEL_CHECK(st.valid & ZIP_STAT_SIZE, "npz '{}': member '{}.npy' has no recorded size", path_,
                name);
  return st.size;
}

// The sizes in a zip's directory are the archive's word, and the member's buffer is allocated
// from them before a byte is inflated. So they are checked against what the archive can hold
// first: a stored member is exactly as large as its bytes in the archive, a deflated one at
// most 1032 times larger (deflate's limit), and those bytes lie inside the archive. numpy writes
// only these two methods; others (bzip2 expands some 45 million to one, so no size it claims
// can be checked) are refused. Found by fuzz_npz: 82 bytes claiming 2 GB.
void NpzReader::check_plausible_size(const std::string& name, uint64_t size) const {
  zip_stat_t st;
  zip_stat_init(&st);
  const int64_t idx = locate(name);
  UNRAVEL_CHECK(idx >= 0 && zip_stat_index(za_, static_cast<zip_uint64_t>(idx), 0, &st) == 0 &&
                    (st.valid & ZIP_STAT_COMP_SIZE) && (st.valid & ZIP_STAT_COMP_METHOD),
                "npz '{}': cannot stat member '{}.npy': {}", path_, name, archive_error(za_));
  UNRAVEL_CHECK(st.comp_method == ZIP_CM_STORE || st.comp_method == ZIP_CM_DEFLATE,
                "npz '{}': member '{}.npy' is compressed with zip method {}; .npz members are "
                "stored or deflated (numpy.savez / savez_compressed)", path_, name,
                st.comp_method);
  UNRAVEL_CHECK(st.comp_size <= archive_size_,
                "npz '{}': member '{}.npy' is corrupt: {} compressed bytes in a {}-byte archive",
                path_, name, st.comp_size, archive_size_);
  if (st.comp_method == ZIP_CM_STORE)
    UNRAVEL_CHECK(size == st.comp_size,
                  "npz '{}': member '{}.npy' is corrupt: stored uncompressed, yet its directory "
                  "entry says {} bytes and {} compressed bytes", path_, name, size, st.comp_size);
  else
    UNRAVEL_CHECK(size / 1032 <= st.comp_size,
                  "npz '{}': member '{}.npy' is corrupt: its directory entry says {} bytes from {} "
                  "deflated bytes, more than deflate can expand", path_, name, size, st.comp_size);
}

std::vector<uint8_t> NpzReader::read_bytes(const std::string& name) const {
  NpzMemberReader member(*this, name);
  std::vector<uint8_t> buf(member.size());
  member.read(buf.data(), buf.size());
  member.finish();
  return buf;
}

NpzMemberReader::NpzMemberReader(const NpzReader& npz, const std::string& name)
    : path_(npz.path_), name_(name) {
  const int64_t idx = npz.locate(name);
  UNRAVEL_CHECK(idx >= 0, "npz '{}': no member '{}.npy' (members: {})", path_, name,
                fmt::join(npz.members(), ", "));
  size_ = npz.member_size(name);
  npz.check_plausible_size(name, size_);
  zf_ = zip_fopen_index(npz.za_, static_cast<zip_uint64_t>(idx), 0);
  UNRAVEL_CHECK(zf_ != nullptr, "npz '{}': cannot open member '{}.npy': {}", path_, name,
                archive_error(npz.za_));
}

NpzMemberReader::~NpzMemberReader() {
  if (zf_) zip_fclose(zf_);
}

void NpzMemberReader::read(void* dst, uint64_t n) {
  UNRAVEL_CHECK(n <= size_ - got_, "npz '{}': member '{}.npy' has {} bytes; {} more were asked "
                "for after {}", path_, name_, size_, n, got_);
  auto* out = static_cast<uint8_t*>(dst);
  constexpr uint64_t kChunk = 64ull << 20;
  for (uint64_t done = 0; done < n;) {
    const zip_int64_t r = zip_fread(zf_, out + done, std::min(kChunk, n - done));
    UNRAVEL_CHECK(r >= 0, "npz '{}': member '{}.npy' is corrupt after {} of {} bytes: {}", path_,
                  name_, got_, size_, zip_error_strerror(zip_file_get_error(zf_)));
    UNRAVEL_CHECK(r > 0, "npz '{}': member '{}.npy' is truncated: {} of {} bytes", path_, name_,
                  got_, size_);
    done += static_cast<uint64_t>(r);
    got_ += static_cast<uint64_t>(r);
  }
}

void NpzMemberReader::finish() {
  UNRAVEL_CHECK(got_ == size_, "npz '{}': member '{}.npy' was read to byte {} of {}", path_, name_,
                got_, size_);
  // Reading past the end makes libzip verify the CRC of the whole member.
  uint8_t extra;
  const zip_int64_t r = zip_fread(zf_, &extra, 1);
  UNRAVEL_CHECK(r == 0, "npz '{}': member '{}.npy' is corrupt (CRC or size mismatch): {}", path_,
                name_, r < 0 ? zip_error_strerror(zip_file_get_error(zf_)) : "extra bytes");
}

Tensor NpzReader::read(const std::string& name) const {
  std::vector<uint8_t> bytes = read_bytes(name);
  return load_npy_buffer(bytes.data(), bytes.size(), path_ + ":" + name + ".npy");
}

void save_zip_members(const std::string& path,
                      const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members,
                      bool compress) {
  int code = 0;
  ::zip* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  UNRAVEL_CHECK(za != nullptr, "save_npz: cannot create '{}': {}", path, zip_error_text(code));
  for (const auto& [name, bytes] : members) {
    zip_source_t* src = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    zip_int64_t idx = src ? zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
      if (src) zip_source_free(src);
      const std::string err = archive_error(za);
      zip_discard(za);
      UNRAVEL_CHECK(false, "save_npz: cannot add '{}' to '{}': {}", name, path, err);
    }
    zip_set_file_compression(za, static_cast<zip_uint64_t>(idx),
                             compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  // The buffers in `members` stay alive until zip_close has written them.
  if (zip_close(za) != 0) {
    const std::string err = archive_error(za);
    zip_discard(za);
    UNRAVEL_CHECK(false, "save_npz: cannot write '{}': {}", path, err);
  }
}

void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays,
              bool compress) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> members;
  members.reserve(arrays.size());
  for (const auto& [name, t] : arrays) members.emplace_back(name + ".npy", npy_bytes(t));
  save_zip_members(path, members, compress);
}

}  // namespace unravel
