#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::net {

/// One access key of a tenants file.
struct credential {
  std::string tenant;
  std::string key_id;
  std::string secret;
  bool operator_access = false; ///< the tenant may use Troupe's /troupe/ operator routes
};

/// Parses a tenants file:
///   {"tenants": [{"name": "alpha", "operator": false,
///                 "keys": [{"id": "AKIDALPHA00000000001", "secret": "..."}]}]}
/// Tenant names are 1-64 of [A-Za-z0-9_-]; key ids 16-128 of [A-Z0-9]; secrets
/// 16-128 printable characters without spaces; a key id appears once in the
/// whole file. Fills `out` with every key, or returns what is wrong (naming
/// the tenant or key) and leaves `out` empty.
std::optional<std::string> parse_tenants_file(std::string_view json, std::vector<credential>& out);

/// A new access key for `tenant`: an id of "AKIA" and 16 of [A-Z2-7], and a
/// secret of 40 base64 characters, from OpenSSL's random generator.
credential new_credential(std::string tenant, bool operator_access);

/// Lambda's (and Troupe's) rule for names: 1-64 of [A-Za-z0-9_-].
bool valid_tenant_name(std::string_view name);

} // namespace troupe::net
