#pragma once
// Error checking for user-facing input. NNC_CHECK throws std::invalid_argument with a message built from its
// arguments, so a bad shape names the layer or argument and the expected versus the received value.
#include <sstream>
#include <stdexcept>
#include <string>

namespace nncore {

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

}  // namespace nncore

#define NNC_CHECK(cond, ...)                                               \
  do {                                                                     \
    if (!(cond)) throw std::invalid_argument(::nncore::str_cat(__VA_ARGS__)); \
  } while (0)
