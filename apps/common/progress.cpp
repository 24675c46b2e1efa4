#include "apps/common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace unravel::apps {

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  int64_t t = static_cast<int64_t>(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, static_cast<int>(t % 60));
  return fmt::format("{}h{:02d}m", t / 3600, static_cast<int>((t % 3600) / 60));
}

Progress::Progress(std::string label, int64_t total, double items_per_unit, double log_every)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)),
      items_per_unit_(items_per_unit), log_every_(log_every), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(int64_t done, const std::string& fields) const {
  double frac = std::min(1.0, static_cast<double>(done) / total_);
  double t = elapsed();
  int64_t since = done - std::max<int64_t>(start_done_, 0);
  double rate = t > 0 ? since / t : 0;
  double eta = rate > 0 ? (total_ - done) / rate : -1;
  std::string bar;
  if (tty_) {
    const int width = 24;
    int filled = static_cast<int>(frac * width);
    bar = fmt::format("[{}{}] ", std::string(filled, '#'), std::string(width - filled, '.'));
  }
  return fmt::format("{} {}{:5.1f}% {}/{} | {:.1f} it/s {:.0f} img/s | {} left{}{}", label_, bar,
                     100 * frac, done, total_, rate, rate * items_per_unit_,
                     eta >= 0 ? format_duration(eta) : "?", fields.empty() ? "" : " | ", fields);
}

void Progress::update(int64_t done, const std::string& fields) {
  if (start_done_ < 0) {
    start_done_ = done > 0 ? done - 1 : 0;  // resumed runs: rate counts from here
  }
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (since < 0.1 && done < total_) return;
    std::fprintf(stderr, "\r\033[K%s", line(done, fields).c_str());
  } else {
    if (since < log_every_ && done < total_) return;
    std::fprintf(stderr, "%s\n", line(done, fields).c_str());
  }
  std::fflush(stderr);
  last_draw_ = now;
}

void Progress::finish(const std::string& fields) {
  std::fprintf(stderr, "%s%s (%s)\n", tty_ ? "\r\033[K" : "", line(total_, fields).c_str(),
               format_duration(elapsed()).c_str());
  std::fflush(stderr);
}

}  // namespace unravel::apps
