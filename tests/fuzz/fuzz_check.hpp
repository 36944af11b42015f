#pragma once
// Shared by the libFuzzer targets: a property check that holds in every build
// type (NDEBUG or not) and names the broken property before aborting, so the
// fuzzer saves the input as a crash.

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);           \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace troupe::fuzz {

/// The input as text.
inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// RFC 7230's token characters (header names, methods).
inline bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_token(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!is_token_char(c))
      return false;
  return true;
}

} // namespace troupe::fuzz
