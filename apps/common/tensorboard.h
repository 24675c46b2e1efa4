// TensorBoard event files (the format TensorBoard's EventAccumulator and `tensorboard --logdir`
// read), written without TensorFlow or libprotobuf: a file is a sequence of records
//
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes |
//   data (one serialized tensorboard.Event) | uint32 masked CRC-32C of data
//
// and the few protobuf messages we need are serialized by hand (pb:: below). The first event of
// a file carries file_version "brain.Event:2"; a resumed run's file starts with a SessionLog
// START, after which TensorBoard drops the steps at or after it that an earlier file recorded.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace unravel::apps {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of n bytes, continuing from `crc`
/// (0 to start): crc32c("123456789") = 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
/// The masked CRC of TFRecord framing: ((c >> 15) | (c << 17)) + 0xa282ead8 with c = crc32c.
uint32_t masked_crc32c(const void* data, size_t n);

/// Protobuf wire-format writers (appending to `out`): just what Event and Summary need.
namespace pb {
void varint(std::string& out, uint64_t v);
/// The key of a field: (number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited,
/// 5 fixed32).
void key(std::string& out, int field, int wire_type);
void int_field(std::string& out, int field, int64_t v);   ///< int32/int64/enum: varint
void double_field(std::string& out, int field, double v);  ///< fixed64, little-endian
void float_field(std::string& out, int field, float v);    ///< fixed32, little-endian
void bytes_field(std::string& out, int field, std::string_view bytes);  ///< string/bytes/message
/// repeated double, packed: one length-delimited field of fixed64 values.
void packed_doubles(std::string& out, int field, const std::vector<double>& v);
}  // namespace pb

/// One record of the file: framing around `data` (see the top of this file).
std::string frame_record(std::string_view data);

/// The values of one step, serialized as a tensorboard.Summary.
class TbSummary {
 public:
  /// A scalar (stored as float32: TensorBoard's simple_value).
  void scalar(const std::string& tag, double value);
  /// An encoded PNG of `height` x `width` with `channels` (1 grey, 3 RGB).
  void image(const std::string& tag, int height, int width, int channels,
             const std::vector<uint8_t>& png);
  /// A histogram of `values` in `buckets` equal-width buckets between their min and max (a
  /// non-finite value is skipped).
  void histogram(const std::string& tag, const std::vector<double>& values, int buckets = 30);
  bool empty() const { return bytes_.empty(); }
  /// The serialized Summary.
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

/// Appends events to a new file events.out.tfevents.<unix seconds>.<host>.<pid>.<n> in `dir`
/// (created when missing). Every event is flushed to the operating system when written, so a
/// killed process loses nothing it wrote. Errors (an unwritable folder, a full disk) throw
/// naming the file.
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  const std::string& path() const { return path_; }
  /// One event at `step` holding the summary's values (nothing when it is empty).
  void write(int64_t step, const TbSummary& summary);
  /// A SessionLog START event at `step`: a reader drops what earlier files hold at steps >= it.
  void session_start(int64_t step);

 private:
  void write_event(int64_t step, int field, std::string_view message);
  std::string path_;
  std::FILE* file_ = nullptr;
};

/// The name a new event file in `dir` gets: TensorBoard reads a folder's files in name order,
/// so when a file there would sort after it (a resumed run within the same second, or a clock
/// set back), its time field is raised past theirs.
std::string new_event_file_name(const std::string& dir);

}  // namespace unravel::apps
