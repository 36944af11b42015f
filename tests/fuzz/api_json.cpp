// libFuzzer target: the Lambda API's JSON parsing (net/lambda_api.hpp) and the
// tenants file (net/tenants_file.hpp). Every parser reads the same input, so
// one corpus of request bodies serves them all; whatever a parser accepts must
// satisfy its documented rules and render back to valid JSON.

#include "tests/fuzz/fuzz_check.hpp"

#include "net/base64.hpp"
#include "net/lambda_api.hpp"
#include "net/tenants_file.hpp"

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <set>

namespace troupe::fuzz {
namespace {

using namespace troupe::net;

const arn_scope scope{"us-east-1"};

/// Lambda's error body is JSON whenever the message is text JSON can carry.
void check_error(const api_error& e, bool input_is_utf8) {
  FUZZ_CHECK(e.status >= 400 && e.status <= 599);
  FUZZ_CHECK(!e.type.empty());
  auto r = error_response(e);
  FUZZ_CHECK(r.status == e.status);
  if (input_is_utf8)
    FUZZ_CHECK(valid_json(r.body));
}

/// The rules parse_create_function and parse_update_configuration enforce.
void check_config(const function_config& cfg) {
  FUZZ_CHECK(valid_function_name(cfg.name));
  FUZZ_CHECK(!runtime_family(cfg.runtime).empty());
  FUZZ_CHECK(cfg.memory_mb >= memory_unit_mb && cfg.memory_mb <= max_memory_mb &&
             cfg.memory_mb % memory_unit_mb == 0);
  FUZZ_CHECK(cfg.timeout_s >= 1 && cfg.timeout_s <= max_timeout_s);
  FUZZ_CHECK(cfg.handler.size() <= 128);
  std::size_t env_bytes = 0;
  for (const auto& [k, v] : cfg.environment)
    env_bytes += k.size() + v.size();
  FUZZ_CHECK(env_bytes <= 4096);
  FUZZ_CHECK(valid_json(render_function_configuration(cfg, scope)));
}

void create_function(std::string_view body, bool utf8) {
  create_function_request req;
  if (auto e = parse_create_function(body, req))
    return check_error(*e, utf8);
  check_config(req.config);
  FUZZ_CHECK(!req.archive.empty());
}

void update_configuration(std::string_view body, bool utf8) {
  function_config cfg;
  cfg.name = "fuzzed";
  cfg.runtime = "python3.12";
  cfg.handler = "app.handler";
  std::string revision;
  if (auto e = parse_update_configuration(body, cfg, revision))
    return check_error(*e, utf8);
  check_config(cfg);
}

void update_code(std::string_view body, bool utf8) {
  update_code_request req;
  if (auto e = parse_update_code(body, req))
    return check_error(*e, utf8);
  FUZZ_CHECK(!req.archive.empty());
}

void put_concurrency(std::string_view body, bool utf8) {
  int32_t reserved = -7;
  if (auto e = parse_put_concurrency(body, reserved))
    return check_error(*e, utf8);
  FUZZ_CHECK(reserved >= 0);
}

void event_invoke_config(std::string_view body, bool utf8) {
  function_config cfg;
  cfg.name = "fuzzed";
  if (auto e = parse_event_invoke_config(body, cfg.async_max_retries, cfg.async_max_age_s))
    return check_error(*e, utf8);
  FUZZ_CHECK(cfg.async_max_retries >= -1 && cfg.async_max_retries <= 2);
  FUZZ_CHECK(cfg.async_max_age_s == -1 ||
             (cfg.async_max_age_s >= 60 && cfg.async_max_age_s <= 21600));
  FUZZ_CHECK(valid_json(render_event_invoke_config(cfg, scope)));
}

void function_reference(std::string_view text, bool utf8) {
  function_ref ref;
  if (auto e = parse_function_ref(text, ref))
    return check_error(*e, utf8);
  FUZZ_CHECK(valid_function_name(ref.name));
  FUZZ_CHECK(ref.qualifier.size() <= 128);
}

void publish_version(std::string_view body, bool utf8) {
  publish_version_request req;
  if (auto e = parse_publish_version(body, req))
    return check_error(*e, utf8);
  FUZZ_CHECK(req.code_sha256.empty() || req.code_sha256.size() == 64);
}

void alias(std::string_view body, bool utf8) {
  for (bool create : {true, false}) {
    alias_config a;
    if (auto e = parse_alias(body, create, a)) {
      check_error(*e, utf8);
      continue;
    }
    FUZZ_CHECK(!create || valid_alias_name(a.name));
    FUZZ_CHECK(a.additional_weight >= 0.0 && a.additional_weight <= 1.0);
    FUZZ_CHECK(a.additional_version != "$LATEST");
    if (create && utf8)
      FUZZ_CHECK(valid_json(render_alias(a, "tenant", "fuzzed", scope)));
  }
}

void url_configuration(std::string_view body, bool utf8) {
  url_config u;
  if (auto e = parse_url_config(body, true, u))
    return check_error(*e, utf8);
  FUZZ_CHECK(u.auth_type == "NONE" || u.auth_type == "AWS_IAM");
  u.tenant = "tenant";
  u.function = "fuzzed";
  if (utf8)
    FUZZ_CHECK(valid_json(render_url_config(u, "http://127.0.0.1:8080", scope)));
}

void tenants(std::string_view text) {
  std::vector<credential> creds{{"stale", "STALE", "stale", false}};
  if (parse_tenants_file(text, creds)) {
    FUZZ_CHECK(creds.empty()); // a refused file leaves nothing behind
    return;
  }
  std::set<std::string> ids;
  for (const auto& c : creds) {
    FUZZ_CHECK(valid_tenant_name(c.tenant));
    FUZZ_CHECK(c.key_id.size() >= 16 && c.key_id.size() <= 128);
    FUZZ_CHECK(c.secret.size() >= 16 && c.secret.size() <= 128);
    FUZZ_CHECK(ids.insert(c.key_id).second);
  }
}

/// A function's result mapped to the function-URL response.
void url_response(std::string_view payload) {
  auto r = function_url_response(payload);
  FUZZ_CHECK(r.status >= 100 && r.status <= 599);
  if (r.status == 502)
    FUZZ_CHECK(valid_json(r.body));
}

void base64_round_trip(std::string_view bytes) {
  auto decoded = base64_decode(base64_encode(bytes));
  FUZZ_CHECK(decoded && *decoded == bytes);
}

} // namespace
} // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace troupe::fuzz;
  auto text = as_text(data, size);
  bool utf8 = simdjson::validate_utf8(text);
  create_function(text, utf8);
  update_configuration(text, utf8);
  update_code(text, utf8);
  put_concurrency(text, utf8);
  event_invoke_config(text, utf8);
  function_reference(text, utf8);
  publish_version(text, utf8);
  alias(text, utf8);
  url_configuration(text, utf8);
  tenants(text);
  url_response(text);
  troupe::net::valid_json(text);
  base64_round_trip(text);
  return 0;
}
