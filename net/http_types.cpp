#include "net/http_types.hpp"

namespace troupe::net {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

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

} // namespace troupe::net
