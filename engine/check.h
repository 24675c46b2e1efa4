// Error type and the one checking macro used across the code base.
#pragma once
#include <stdexcept>
#include <string>
#if defined(__CUDACC__)
// nvcc's front end cannot compile fmt's consteval/constexpr format checks, so CUDA translation
// units format "{}" placeholders with a small ostream-based formatter (engine/cuda_format.h);
// the host compiler checks every format string of the CPU build with fmt.
#include "engine/cuda_format.h"
#define UNRAVEL_FORMAT ::unravel::detail::brace_format
#else
#include <fmt/format.h>
#define UNRAVEL_FORMAT ::fmt::format
#endif

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
      ::unravel::throw_error(UNRAVEL_FORMAT(__VA_ARGS__));         \
  } while (0)
