#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace troupe::net {

/// A function's cluster-wide identity: "<tenant>/<name>". Each tenant has its
/// own namespace of function names, as each AWS account does; neither part
/// may hold a '/' (both are [A-Za-z0-9_-]).
inline std::string function_id(std::string_view tenant, std::string_view name) {
  std::string id;
  id.reserve(tenant.size() + 1 + name.size());
  return id.append(tenant).append(1, '/').append(name);
}

/// The function name part of a function id (all of it if it has no tenant).
inline std::string_view function_name_of(std::string_view id) {
  auto slash = id.find('/');
  return slash == std::string_view::npos ? id : id.substr(slash + 1);
}

/// The tenant part of a function id ("" if it has none).
inline std::string_view tenant_of(std::string_view id) {
  auto slash = id.find('/');
  return slash == std::string_view::npos ? std::string_view{} : id.substr(0, slash);
}

/// A function's configuration as the Lambda API speaks of it (the
/// FunctionConfiguration shape), plus where its code is. Plain data: actors
/// carry it in messages and the registry stores it.
struct function_config {
  std::string name;
  std::string runtime; ///< "provided" or "python3" family
  std::string handler; ///< "module.function" for python3; free text for provided
  std::string description;
  int32_t memory_mb = 128; ///< a multiple of 128, 128..10240
  int32_t timeout_s = 3;   ///< 1..900
  std::map<std::string, std::string> environment;
  std::string code_sha256; ///< hex SHA-256 of the uploaded archive (the API's CodeSha256)
  int64_t code_size = 0;   ///< archive bytes
  /// The code package its instances run (storage::package_digest, hex):
  /// identical trees share one, whatever archive they came in.
  std::string package;
  int64_t last_modified_ms = 0;
  std::string revision_id;
  std::string tenant = "default"; ///< whose function it is
  /// Instances kept for it alone and its cap (Lambda's reserved concurrency);
  /// -1: none (it shares the tenant's unreserved pool), 0: stopped.
  int32_t reserved_concurrency = -1;
  /// Its asynchronous invocations' retry settings (Lambda's EventInvokeConfig):
  /// retries after a function error (0..2) and the oldest an event may get
  /// (60..21600 s); -1: the node's settings. Both -1: it has no such config.
  int32_t async_max_retries = -1;
  int32_t async_max_age_s = -1;
  /// Which version this is: "$LATEST" (the one that changes), or a published
  /// version's number ("1", "2", ...), an immutable copy of code and settings.
  std::string version = "$LATEST";
  /// $LATEST only: the number of the last version published (0: none yet);
  /// numbers are never reused, even after a version is deleted.
  int32_t last_version = 0;
  /// Its identity in the cluster (see function_id): the same for all its versions.
  std::string id() const { return function_id(tenant, name); }
  bool is_latest() const { return version == "$LATEST"; }
  bool has_event_invoke_config() const { return async_max_retries >= 0 || async_max_age_s >= 0; }
};

/// An alias: a name for one version of a function, optionally sending a
/// share of its invocations to a second version (weighted routing).
struct alias_config {
  std::string name;
  std::string function_version; ///< "$LATEST" or a version number
  std::string description;
  std::string additional_version; ///< "" when it routes to one version only
  double additional_weight = 0;   ///< the share of additional_version, 0..1
  std::string revision_id;
};

/// A function URL: an HTTP endpoint of its own (/fn/{url_id}/...) for a
/// function or one of its aliases, open to anyone (AuthType NONE) or only to
/// requests its tenant signed (AWS_IAM).
struct url_config {
  std::string url_id; ///< 32 lower-case letters and digits, made at creation
  std::string tenant;
  std::string function;  ///< its name
  std::string qualifier; ///< "" for $LATEST, or an alias
  std::string auth_type; ///< "NONE" or "AWS_IAM"
  std::string cors;      ///< the Cors object as given (JSON), "" for none
  int64_t created_ms = 0;
  int64_t modified_ms = 0;
  bool open() const { return auth_type == "NONE"; }
};

/// Limits the API enforces on configurations (Lambda's values).
constexpr int32_t memory_unit_mb = 128;
constexpr int32_t max_memory_mb = 10240;
constexpr int32_t max_timeout_s = 900;

} // namespace troupe::net
