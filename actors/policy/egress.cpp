#include "actors/policy/egress.hpp"

#include "net/egress_proxy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace troupe::policy {

namespace {

using net::parse_port;

/// "*", "443" or "8000-8999".
bool parse_ports(std::string_view s, egress_rule& r) {
  if (s == "*") {
    r.port_lo = 0;
    r.port_hi = 65535;
    return true;
  }
  auto dash = s.find('-');
  if (dash == std::string_view::npos)
    return parse_port(s, r.port_lo) && parse_port(s, r.port_hi);
  return parse_port(s.substr(0, dash), r.port_lo) && parse_port(s.substr(dash + 1), r.port_hi) &&
         r.port_lo <= r.port_hi;
}

/// An address (IPv4 or IPv6) into 16 bytes; false if it is neither.
bool parse_address(std::string_view s, std::array<uint8_t, 16>& out, bool& v6) {
  std::string text{s};
  out.fill(0);
  if (inet_pton(AF_INET, text.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

/// "10.0.0.0/8" or "192.0.2.7" (then /32 or /128).
bool parse_cidr(std::string_view s, egress_rule& r) {
  auto slash = s.find('/');
  if (!parse_address(s.substr(0, slash), r.net, r.v6))
    return false;
  int bits = r.v6 ? 128 : 32;
  r.prefix = bits;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), r.prefix);
    if (ec != std::errc{} || end != p.data() + p.size() || r.prefix < 0 || r.prefix > bits)
      return false;
  }
  for (int i = r.prefix; i < bits; ++i) // the network's own address
    r.net[size_t(i / 8)] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
  return true;
}

bool valid_label(std::string_view l) {
  return !l.empty() && l.size() <= 63 && l.front() != '-' && l.back() != '-' &&
         std::all_of(l.begin(), l.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

bool valid_host_pattern(std::string_view h) {
  if (h.size() > 2 && h.substr(0, 2) == "*.")
    h.remove_prefix(2);
  if (h.empty() || h.size() > 253)
    return false;
  for (size_t start = 0;;) {
    auto dot = h.find('.', start);
    if (!valid_label(h.substr(start, dot - start)))
      return false;
    if (dot == std::string_view::npos)
      return true;
    start = dot + 1;
  }
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ports_text(const egress_rule& r) {
  if (r.port_lo == 0 && r.port_hi == 65535)
    return "*";
  if (r.port_lo == r.port_hi)
    return std::to_string(r.port_lo);
  return std::to_string(r.port_lo) + "-" + std::to_string(r.port_hi);
}

std::string address_text(const egress_rule& r) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(r.v6 ? AF_INET6 : AF_INET, r.net.data(), buf, sizeof buf);
  return buf;
}

} // namespace

std::optional<egress_rule> parse_egress_rule(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<egress_rule> {
    if (error)
      *error = "egress rule '" + std::string{text} + "': " + why;
    return std::nullopt;
  };
  egress_rule r;
  std::string_view dest = text, ports;
  if (!text.empty() && text.front() == '[') { // [IPv6 CIDR] or [IPv6 CIDR]:PORTS
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail("an IPv6 address in brackets lacks its ']'");
    dest = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1))
      return fail("after ']' comes ':' and the ports, or nothing");
    ports = rest.empty() ? "*" : rest.substr(1);
    if (!parse_cidr(dest, r) || !r.v6)
      return fail("not an IPv6 address or network");
  } else {
    if (text.find(':') != text.rfind(':'))
      return fail("write an IPv6 address in brackets: [2001:db8::/32]:443");
    auto colon = text.rfind(':');
    dest = text.substr(0, colon);
    ports = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    if (!parse_cidr(dest, r)) {
      if (ports.empty())
        return fail("a host name needs its ports (HOST:PORT, HOST:LO-HI or HOST:*)");
      if (!valid_host_pattern(dest))
        return fail("neither an address, a network nor a host name (or *.domain)");
      r.is_host = true;
      r.host = lower(dest);
    }
    if (ports.empty())
      ports = "*";
  }
  if (!parse_ports(ports, r))
    return fail("ports are a port (1-65535), a range LO-HI or *");
  auto where = r.is_host ? r.host
               : r.v6    ? "[" + address_text(r) + "/" + std::to_string(r.prefix) + "]"
                         : address_text(r) + "/" + std::to_string(r.prefix);
  r.text = where + ":" + ports_text(r);
  return r;
}

bool egress_allowed(const std::vector<egress_rule>& rules, const egress_destination& to) {
  std::array<uint8_t, 16> addr{};
  bool v6 = false;
  bool has_address = parse_address(to.address, addr, v6);
  auto host = lower(to.host);
  for (const auto& r : rules) {
    if (to.port < r.port_lo || to.port > r.port_hi)
      continue;
    if (r.is_host) {
      if (host.empty())
        continue;
      if (r.host.substr(0, 2) == "*.") {
        auto domain = std::string_view{r.host}.substr(1); // ".example.com"
        if (host.size() > domain.size() &&
            std::string_view{host}.substr(host.size() - domain.size()) == domain)
          return true;
      } else if (host == r.host) {
        return true;
      }
      continue;
    }
    if (!has_address || v6 != r.v6)
      continue;
    bool inside = true;
    for (int i = 0; i < r.prefix && inside; ++i) {
      uint8_t bit = static_cast<uint8_t>(0x80 >> (i % 8));
      inside = (addr[size_t(i / 8)] & bit) == (r.net[size_t(i / 8)] & bit);
    }
    if (inside)
      return true;
  }
  return false;
}

} // namespace troupe::policy
