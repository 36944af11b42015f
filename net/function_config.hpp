#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace troupe::net {

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
  std::string code_sha256; ///< hex SHA-256 of the uploaded archive: the package name
  int64_t code_size = 0;   ///< archive bytes
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
  bool has_event_invoke_config() const { return async_max_retries >= 0 || async_max_age_s >= 0; }
};

/// Limits the API enforces on configurations (Lambda's values).
constexpr int32_t memory_unit_mb = 128;
constexpr int32_t max_memory_mb = 10240;
constexpr int32_t max_timeout_s = 900;

} // namespace troupe::net
