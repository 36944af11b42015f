#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::policy {

/// One allowed destination of a tenant's outbound connections. Written as
///   CIDR            10.0.0.0/8, 192.0.2.7, [2001:db8::/32]   (any port)
///   CIDR:PORTS      10.0.0.0/8:443, [::1]:8000-8999
///   HOST:PORTS      api.example.com:443, *.example.com:*
/// where PORTS is a port, a range LO-HI or `*`; a host pattern `*.D` matches
/// the subdomains of D (not D itself); names compare without case. An
/// address rule matches the address a connection goes to, a host rule the
/// name the function asked for.
struct egress_rule {
  bool is_host = false;
  std::string host;              ///< lower-case name or `*.domain` (host rules)
  std::array<uint8_t, 16> net{}; ///< the network's address (IPv4 in the first 4 bytes)
  bool v6 = false;
  int prefix = 0; ///< prefix length in bits
  uint16_t port_lo = 0, port_hi = 65535;
  std::string text; ///< the rule as normalized, for listing
};

/// Parses one rule; nullopt and `error` set naming what is wrong.
std::optional<egress_rule> parse_egress_rule(std::string_view text, std::string* error);

/// A destination as the gateway meets it: the name asked for ("" when the
/// function asked for an address) and the address it resolved to.
struct egress_destination {
  std::string host;
  std::string address; ///< IPv4 dotted or IPv6 text
  uint16_t port = 0;
};

/// Whether `rules` allow `to` (no rule: denied).
bool egress_allowed(const std::vector<egress_rule>& rules, const egress_destination& to);

} // namespace troupe::policy
