// "{}" formatting for CUDA translation units (see engine/check.h): each "{}" takes the next
// argument through operator<<; "{{" and "}}" are literal braces. Only plain "{}" is supported.
#pragma once
#include <sstream>
#include <string>
#include <string_view>

namespace unravel::detail {

inline void brace_format_rest(std::ostringstream& os, std::string_view f) {
  for (size_t i = 0; i < f.size(); ++i) {
    if ((f[i] == '{' || f[i] == '}') && i + 1 < f.size() && f[i + 1] == f[i]) ++i;
    os << f[i];
  }
}

template <class A, class... Rest>
void brace_format_rest(std::ostringstream& os, std::string_view f, const A& a, const Rest&... rest) {
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      os << '{';
      ++i;
    } else if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      os << '}';
      ++i;
    } else if (f[i] == '{') {
      const size_t close = f.find('}', i);
      if constexpr (std::is_same_v<A, bool>) os << (a ? "true" : "false");
      else if constexpr (std::is_same_v<A, unsigned char> || std::is_same_v<A, signed char>) os << int(a);
      else os << a;
      brace_format_rest(os, close == std::string_view::npos ? std::string_view{} : f.substr(close + 1),
                        rest...);
      return;
    } else {
      os << f[i];
    }
  }
}

template <class... Args> std::string brace_format(std::string_view f, const Args&... args) {
  std::ostringstream os;
  brace_format_rest(os, f, args...);
  return os.str();
}

}  // namespace unravel::detail
