// NumPy .npz archives: a zip file of .npy members (numpy.savez / savez_compressed). Read with
// libzip, members stored or deflate-compressed (the two methods numpy writes; others are
// refused), each parsed by engine/io/npy.h; CRC and size mismatches, sizes the archive cannot
// hold, truncated or corrupt archives and missing members raise errors that name the file and
// the member. Also a writer (used by tests and for exporting codes/factors).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

struct zip;
struct zip_file;

namespace unravel {

/// An open .npz archive (read-only). Member names are given without the ".npy" suffix.
class NpzReader {
 public:
  /// Opens `path`; throws naming the file when it is missing or not a readable zip archive.
  explicit NpzReader(const std::string& path);
  /// Opens an archive held in memory: `size` bytes at `data`, which must outlive the reader;
  /// `name` stands for the file in error messages.
  NpzReader(const void* data, size_t size, const std::string& name);
  ~NpzReader();
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;

  /// Names of the .npy members, in archive order, without ".npy".
  std::vector<std::string> members() const;
  /// True when member `name` (without ".npy") exists.
  bool has(const std::string& name) const;
  /// Uncompressed size in bytes of member `name`.
  uint64_t member_size(const std::string& name) const;
  /// The raw (decompressed, CRC-checked) bytes of member `name`.
  std::vector<uint8_t> read_bytes(const std::string& name) const;
  /// Member `name` parsed as a row-major CPU tensor (Fortran order is transposed).
  Tensor read(const std::string& name) const;
  const std::string& path() const { return path_; }

 private:
  friend class NpzMemberReader;
  int64_t locate(const std::string& name) const;
  void check_plausible_size(const std::string& name, uint64_t size) const;
  std::string path_;
  ::zip* za_ = nullptr;
  uint64_t archive_size_ = UINT64_MAX;  ///< bytes of the archive (bounds the members' sizes)
};

/// Sequential reader of one member's decompressed bytes, for members too large to hold twice
/// (MPI3D's 12.7 GB of images): read() hands out the next bytes, finish() checks that the
/// member ends there and that its CRC is right. Errors name the file and the member.
class NpzMemberReader {
 public:
  /// Opens member `name` (without ".npy") of `npz`, which must outlive the reader.
  NpzMemberReader(const NpzReader& npz, const std::string& name);
  ~NpzMemberReader();
  NpzMemberReader(const NpzMemberReader&) = delete;
  NpzMemberReader& operator=(const NpzMemberReader&) = delete;
  /// Uncompressed size of the member and bytes read so far.
  uint64_t size() const { return size_; }
  uint64_t position() const { return got_; }
  /// Reads exactly n bytes into dst (throws when the member ends first or is corrupt).
  void read(void* dst, uint64_t n);
  /// After the last byte: throws unless the member ends here with a matching CRC.
  void finish();

 private:
  std::string path_, name_;
  ::zip_file* zf_ = nullptr;
  uint64_t size_ = 0, got_ = 0;
};

/// Writes `arrays` (name without ".npy", tensor) as an .npz at `path`; deflate-compressed when
/// `compress` (like numpy.savez_compressed), stored otherwise (like numpy.savez).
void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays,
              bool compress);
/// Writes raw member bytes (name with any suffix, bytes) as a zip; for tests that need
/// hand-made members. `compress`: deflate each member, else store.
void save_zip_members(const std::string& path,
                      const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members,
                      bool compress);

}  // namespace unravel
