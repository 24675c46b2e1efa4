// A one-line progress bar for long work: fraction done, rate, ETA and caller-supplied fields
// (loss terms, β, C). Redrawn at most ~10 times a second on a terminal; on a pipe or file it
// prints a plain line every `log_every` seconds instead, so CI logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace unravel::apps {

class Progress {
 public:
  /// `total` units (steps); `unit` names them ("step"); items_per_unit for images/s.
  Progress(std::string label, int64_t total, double items_per_unit = 1.0, double log_every = 10.0);
  /// Reports that `done` units are finished, with extra text shown after the bar.
  void update(int64_t done, const std::string& fields = "");
  /// Final line (always printed).
  void finish(const std::string& fields = "");
  /// Seconds since construction.
  double elapsed() const;

 private:
  std::string line(int64_t done, const std::string& fields) const;
  std::string label_;
  int64_t total_;
  double items_per_unit_, log_every_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t start_done_ = -1;
};

/// "1h02m", "3m05s", "12.3s".
std::string format_duration(double seconds);

}  // namespace unravel::apps
