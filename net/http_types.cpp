#include "net/http_types.hpp"

#include <cctype>

namespace troupe::net {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string url_decode(std::string_view s, bool plus_is_space = true) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && isxdigit(s[i + 1]) && isxdigit(s[i + 2])) {
      out += static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

std::string percent_decode(std::string_view s) {
  return url_decode(s, false);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

std::string_view http_request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name))
      return h.value;
  return {};
}

std::string_view http_request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view http_request::query() const {
  std::string_view t = target;
  auto pos = t.find('?');
  return pos == std::string_view::npos ? std::string_view{} : t.substr(pos + 1);
}

/// Query parameters as Lambda gives them: repeated keys joined with commas.
std::map<std::string, std::string> query_parameters(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq));
    auto val = eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
    auto [it, fresh] = out.emplace(key, val);
    if (!fresh)
      it->second += "," + val;
  }
  return out;
}

} // namespace troupe::net
