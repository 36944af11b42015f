#include "net/base64.hpp"

#include <array>
#include <cstdint>

namespace troupe::net {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> r{};
  for (auto& x : r)
    x = -1;
  for (int i = 0; i < 64; ++i)
    r[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return r;
}

constexpr auto reverse = make_reverse();

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

} // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out += alphabet[(v >> s) & 63];
  }
  if (auto rest = data.size() - i; rest > 0) {
    uint32_t v = uint8_t(data[i]) << 16;
    if (rest == 2)
      v |= uint8_t(data[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0, quantum = 0, padding = 0;
  for (char c : text) {
    if (is_space(c))
      continue;
    if (c == '=') {
      ++padding;
      ++quantum;
      continue;
    }
    auto v = reverse[static_cast<uint8_t>(c)];
    if (v < 0 || padding > 0)
      return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    ++quantum;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (quantum % 4 != 0 || padding > 2)
    return std::nullopt;
  return out;
}

} // namespace troupe::net
