// Error type and the one checking macro used across the code base.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace unravel {

/// Every error the library raises on bad input or a failed invariant.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(std::string msg);

}  // namespace unravel

/// UNRAVEL_CHECK(cond, "fmt {}", args...): throws unravel::Error with the formatted message.
#define UNRAVEL_CHECK(cond, ...)                                   \
  do {                                                             \
    if (!(cond)) [[unlikely]]                                      \
      ::unravel::throw_error(::fmt::format(__VA_ARGS__));          \
  } while (0)
