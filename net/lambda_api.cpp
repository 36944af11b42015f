#include "net/lambda_api.hpp"

#include <algorithm>

#include "net/base64.hpp"
#include "net/json_writer.hpp"

#include <simdjson.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <functional>
#include <vector>

namespace troupe::net {

namespace od = simdjson::ondemand;

api_error invalid_parameter(std::string message) {
  return {400, "InvalidParameterValueException", std::move(message)};
}

api_error not_found(std::string message) {
  return {404, "ResourceNotFoundException", std::move(message)};
}

http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.set("Content-Type", "application/json");
  return r;
}

http_response error_response(const api_error& e) {
  json_writer w;
  // Lambda's body names whose fault it is: the caller's (4xx) or the service's.
  w.begin_object().field("Type", e.status >= 500 ? "Service" : "User").field("message", e.message);
  if (!e.reason.empty())
    w.field("Reason", e.reason);
  w.end_object();
  auto r = json_response(e.status, w.take());
  r.set("x-amzn-ErrorType", e.type);
  return r;
}

std::string account_id(std::string_view tenant) {
  if (tenant == "default")
    return "000000000000";
  uint64_t h = 14695981039346656037ULL; // FNV-1a: stable across builds and machines
  for (unsigned char c : tenant)
    h = (h ^ c) * 1099511628211ULL;
  char buf[16];
  snprintf(buf, sizeof buf, "%012llu", static_cast<unsigned long long>(h % 1000000000000ULL));
  return buf;
}

std::string arn_scope::function_arn(std::string_view tenant, std::string_view name) const {
  return "arn:aws:lambda:" + region + ":" + account_id(tenant) + ":function:" + std::string{name};
}

bool valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return false;
  return true;
}

std::string render_event_invoke_config(const function_config& cfg, const arn_scope& scope) {
  json_writer w;
  char modified[32];
  snprintf(modified, sizeof modified, "%.3f", double(cfg.last_modified_ms) / 1000.0);
  w.begin_object()
      .field("FunctionArn", scope.function_arn(cfg.tenant, cfg.name) + ":$LATEST")
      .key("LastModified")
      .raw(modified);
  if (cfg.async_max_retries >= 0)
    w.field("MaximumRetryAttempts", cfg.async_max_retries);
  if (cfg.async_max_age_s >= 0)
    w.field("MaximumEventAgeInSeconds", cfg.async_max_age_s);
  w.end_object();
  return w.take();
}

std::string runtime_family(std::string_view runtime) {
  if (runtime == "provided" || runtime == "provided.al2" || runtime == "provided.al2023")
    return "provided";
  if (runtime == "python3" || runtime.substr(0, 8) == "python3.")
    return "python3";
  if (runtime.substr(0, 6) == "nodejs" && runtime.size() > 8 &&
      runtime.substr(runtime.size() - 2) == ".x" &&
      std::all_of(runtime.begin() + 6, runtime.end() - 2,
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return "nodejs"; // nodejs18.x, nodejs20.x, ...: whatever Node.js the host has
  return "";
}

namespace {

/// Lambda's rule for environment variable names, and the keys it reserves.
bool valid_env_key(std::string_view k) {
  if (k.size() < 2 || !isalpha(static_cast<unsigned char>(k[0])))
    return false;
  for (char c : k)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  static constexpr std::array<std::string_view, 12> reserved = {"_HANDLER",
                                                                "_X_AMZN_TRACE_ID",
                                                                "AWS_DEFAULT_REGION",
                                                                "AWS_REGION",
                                                                "AWS_EXECUTION_ENV",
                                                                "AWS_LAMBDA_FUNCTION_NAME",
                                                                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                                                "AWS_LAMBDA_FUNCTION_VERSION",
                                                                "AWS_LAMBDA_RUNTIME_API",
                                                                "LAMBDA_TASK_ROOT",
                                                                "LAMBDA_RUNTIME_DIR",
                                                                "AWS_LAMBDA_INITIALIZATION_TYPE"};
  for (auto r : reserved)
    if (k == r)
      return false;
  return true;
}

std::optional<api_error> parse_environment(od::value v, function_config& cfg) {
  od::object env;
  if (v.get_object().get(env))
    return invalid_parameter("Environment must be an object");
  for (auto field : env) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return invalid_parameter("Environment is not valid JSON");
    if (key != "Variables")
      continue;
    od::object vars;
    if (field.value().get_object().get(vars))
      return invalid_parameter("Environment.Variables must be an object of strings");
    std::size_t total = 0;
    for (auto var : vars) {
      std::string_view k, val;
      if (var.unescaped_key().get(k) || var.value().get_string().get(val))
        return invalid_parameter("Environment.Variables must be an object of strings");
      if (!valid_env_key(k))
        return invalid_parameter("Environment variable name is invalid or reserved: " +
                                 std::string{k});
      total += k.size() + val.size();
      cfg.environment[std::string{k}] = std::string{val};
    }
    if (total > 4096)
      return invalid_parameter("Environment variables exceed 4 KB");
  }
  return std::nullopt;
}

std::optional<api_error> parse_code(od::value v, std::string& archive) {
  od::object code;
  if (v.get_object().get(code))
    return invalid_parameter("Code must be an object");
  for (auto field : code) {
    std::string_view key, text;
    if (field.unescaped_key().get(key))
      return invalid_parameter("Code is not valid JSON");
    if (key != "ZipFile")
      return invalid_parameter("Code." + std::string{key} +
                               " is not supported: upload the archive as Code.ZipFile");
    if (field.value().get_string().get(text))
      return invalid_parameter("Code.ZipFile must be a base64 string");
    auto bytes = base64_decode(text);
    if (!bytes)
      return invalid_parameter("Code.ZipFile is not valid base64");
    archive = std::move(*bytes);
  }
  if (archive.empty())
    return invalid_parameter("Code.ZipFile is required");
  return std::nullopt;
}

std::optional<api_error> get_int(od::value v, std::string_view name, int32_t& out) {
  int64_t n = 0;
  if (v.get_int64().get(n) || n < INT32_MIN || n > INT32_MAX)
    return invalid_parameter(std::string{name} + " must be an integer");
  out = static_cast<int32_t>(n);
  return std::nullopt;
}

std::optional<api_error> get_str(od::value v, std::string_view name, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s))
    return invalid_parameter(std::string{name} + " must be a string");
  out = std::string{s};
  return std::nullopt;
}

/// The fields CreateFunction and UpdateFunctionConfiguration share.
std::optional<api_error> parse_config_field(std::string_view key, od::value v, function_config& cfg,
                                            bool& known) {
  known = true;
  if (key == "Runtime")
    return get_str(v, key, cfg.runtime);
  if (key == "Handler")
    return get_str(v, key, cfg.handler);
  if (key == "Description")
    return get_str(v, key, cfg.description);
  if (key == "MemorySize")
    return get_int(v, key, cfg.memory_mb);
  if (key == "Timeout")
    return get_int(v, key, cfg.timeout_s);
  if (key == "Environment") {
    cfg.environment.clear();
    return parse_environment(v, cfg);
  }
  known = false;
  return std::nullopt;
}

std::optional<api_error> get_bool(od::value v, std::string_view name, bool& out) {
  if (v.get_bool().get(out))
    return invalid_parameter(std::string{name} + " must be true or false");
  return std::nullopt;
}

std::optional<api_error> parse_field(std::string_view key, od::value v,
                                     create_function_request& out) {
  auto& cfg = out.config;
  if (key == "FunctionName")
    return get_str(v, key, cfg.name);
  bool known = false;
  if (auto err = parse_config_field(key, v, cfg, known); err || known)
    return err;
  if (key == "Code")
    return parse_code(v, out.archive);
  if (key == "PackageType") {
    std::string type;
    if (auto e = get_str(v, key, type))
      return e;
    if (type != "Zip")
      return invalid_parameter("PackageType " + type + " is not supported: use Zip");
  }
  return std::nullopt; // other Lambda fields (Role, Tags, ...) are accepted and ignored
}

std::optional<api_error> validate(const function_config& cfg) {
  if (!valid_function_name(cfg.name))
    return invalid_parameter("FunctionName must be 1 to 64 characters of [A-Za-z0-9_-]");
  if (runtime_family(cfg.runtime).empty())
    return invalid_parameter("Runtime '" + cfg.runtime +
                             "' is not supported: use provided, provided.al2, provided.al2023, "
                             "python3.x or nodejsNN.x");
  if (runtime_family(cfg.runtime) == "python3" && cfg.handler.find('.') == std::string::npos)
    return invalid_parameter("Handler must be module.function for " + cfg.runtime);
  if (runtime_family(cfg.runtime) == "nodejs" && cfg.handler.find('.') == std::string::npos)
    return invalid_parameter("Handler must be file.function for " + cfg.runtime);
  if (cfg.handler.size() > 128)
    return invalid_parameter("Handler is longer than 128 characters");
  if (cfg.memory_mb < memory_unit_mb || cfg.memory_mb > max_memory_mb ||
      cfg.memory_mb % memory_unit_mb != 0)
    return invalid_parameter("MemorySize must be a multiple of 128 between 128 and 10240 MB");
  if (cfg.timeout_s < 1 || cfg.timeout_s > max_timeout_s)
    return invalid_parameter("Timeout must be between 1 and 900 seconds");
  return std::nullopt;
}

/// Calls `on_field` with each field of the JSON object `body`, and stops at the
/// first error it returns.
std::optional<api_error>
each_field(std::string_view body,
           const std::function<std::optional<api_error>(std::string_view, od::value)>& on_field) {
  od::parser parser;
  simdjson::padded_string json{body};
  od::document doc;
  od::object obj;
  if (parser.iterate(json).get(doc) || doc.get_object().get(obj))
    return invalid_parameter("request body must be a JSON object");
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return invalid_parameter("request body is not valid JSON");
    if (auto err = on_field(key, field.value()))
      return err;
  }
  return std::nullopt;
}

} // namespace

std::optional<api_error> parse_function_ref(std::string_view ref, function_ref& out) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    auto colon = ref.find(':', start);
    parts.push_back(ref.substr(start, colon - start));
    if (colon == std::string_view::npos)
      break;
    start = colon + 1;
  }
  size_t at = 0; // index of the name among the parts
  if (parts.size() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function")
    at = 6;
  else if (parts.size() >= 3 && parts[1] == "function")
    at = 2;
  if (parts.size() > at + 2 || (at == 0 && parts[0] == "arn"))
    return invalid_parameter("FunctionName " + std::string{ref} +
                             " is not a function name, a name with a qualifier, or an ARN");
  out.name = std::string{parts[at]};
  out.qualifier = parts.size() == at + 2 ? std::string{parts[at + 1]} : std::string{};
  out.region = at == 6 ? std::string{parts[3]} : std::string{};
  out.account = at == 6 ? std::string{parts[4]} : at == 2 ? std::string{parts[0]} : std::string{};
  if (!valid_function_name(out.name))
    return invalid_parameter("FunctionName must be 1 to 64 characters of [A-Za-z0-9_-]");
  if (parts.size() == at + 2 && (out.qualifier.empty() || out.qualifier.size() > 128))
    return invalid_parameter("Qualifier must be 1 to 128 characters");
  return std::nullopt;
}

std::optional<api_error> parse_update_configuration(std::string_view body, function_config& cfg,
                                                    std::string& revision) {
  revision.clear();
  if (auto err = each_field(body, [&](std::string_view key, od::value v) {
        bool known = false;
        auto refusal = parse_config_field(key, v, cfg, known);
        if (!known && key == "RevisionId")
          return get_str(v, key, revision);
        return refusal; // other Lambda fields (Role, Layers, ...) are accepted and ignored
      }))
    return err;
  return validate(cfg);
}

std::optional<api_error> parse_update_code(std::string_view body, update_code_request& out) {
  if (auto err =
          each_field(body, [&](std::string_view key, od::value v) -> std::optional<api_error> {
            if (key == "ZipFile") {
              std::string text;
              if (auto e = get_str(v, key, text))
                return e;
              auto bytes = base64_decode(text);
              if (!bytes)
                return invalid_parameter("ZipFile is not valid base64");
              out.archive = std::move(*bytes);
              return std::nullopt;
            }
            if (key == "RevisionId")
              return get_str(v, key, out.revision);
            if (key == "DryRun")
              return get_bool(v, key, out.dry_run);
            if (key == "Publish")
              return get_bool(v, key, out.publish);
            if (key == "S3Bucket" || key == "S3Key" || key == "S3ObjectVersion" ||
                key == "ImageUri")
              return invalid_parameter(std::string{key} +
                                       " is not supported: upload the archive as ZipFile");
            return std::nullopt; // Architectures and the like are accepted and ignored
          }))
    return err;
  if (out.archive.empty())
    return invalid_parameter("ZipFile is required");
  return std::nullopt;
}

namespace {

/// The hex form of a base64 SHA-256 digest, or "" if it is not one.
std::string sha256_hex_of_base64(std::string_view b64) {
  auto raw = base64_decode(b64);
  if (!raw || raw->size() != 32)
    return {};
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : *raw) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  return hex;
}

bool valid_version(std::string_view v) {
  return v == "$LATEST" || (!v.empty() && v.size() <= 9 && v[0] != '0' &&
                            v.find_first_not_of("0123456789") == std::string_view::npos);
}

std::optional<api_error> parse_weights(od::value v, alias_config& out) {
  od::object routing, weights;
  if (v.get_object().get(routing))
    return invalid_parameter("RoutingConfig must be an object");
  out.additional_version.clear();
  out.additional_weight = 0;
  for (auto field : routing) {
    std::string_view key;
    if (field.unescaped_key().get(key) || key != "AdditionalVersionWeights")
      return invalid_parameter("RoutingConfig takes only AdditionalVersionWeights");
    if (field.value().get_object().get(weights))
      return invalid_parameter("AdditionalVersionWeights must be an object of version: weight");
    for (auto w : weights) {
      std::string_view version;
      double weight = -1;
      if (w.unescaped_key().get(version) || w.value().get_double().get(weight))
        return invalid_parameter("AdditionalVersionWeights must be an object of version: weight");
      if (!out.additional_version.empty())
        return invalid_parameter("AdditionalVersionWeights may name one version only");
      if (!valid_version(version) || version == "$LATEST")
        return invalid_parameter("AdditionalVersionWeights names a published version, not " +
                                 std::string{version});
      if (!(weight >= 0.0 && weight <= 1.0))
        return invalid_parameter("an additional version's weight must be from 0.0 to 1.0");
      out.additional_version = std::string{version};
      out.additional_weight = weight;
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<api_error> parse_publish_version(std::string_view body,
                                               publish_version_request& out) {
  if (body.empty())
    return std::nullopt;
  return each_field(body, [&](std::string_view key, od::value v) -> std::optional<api_error> {
    if (key == "CodeSha256") {
      std::string b64;
      if (auto e = get_str(v, key, b64))
        return e;
      out.code_sha256 = sha256_hex_of_base64(b64);
      if (out.code_sha256.empty())
        return invalid_parameter("CodeSha256 must be a base64 SHA-256 digest");
      return std::nullopt;
    }
    if (key == "Description")
      return get_str(v, key, out.description);
    if (key == "RevisionId")
      return get_str(v, key, out.revision);
    return invalid_parameter("unknown field " + std::string{key});
  });
}

bool valid_alias_name(std::string_view name) {
  if (name.empty() || name.size() > 128 ||
      name.find_first_not_of("0123456789") == std::string_view::npos)
    return false;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return false;
  return true;
}

std::optional<api_error> parse_alias(std::string_view body, bool create, alias_config& out) {
  if (auto err =
          each_field(body, [&](std::string_view key, od::value v) -> std::optional<api_error> {
            if (key == "Name")
              return get_str(v, key, out.name);
            if (key == "FunctionVersion")
              return get_str(v, key, out.function_version);
            if (key == "Description")
              return get_str(v, key, out.description);
            if (key == "RevisionId" && !create)
              return get_str(v, key, out.revision_id);
            if (key == "RoutingConfig")
              return parse_weights(v, out);
            return invalid_parameter("unknown field " + std::string{key});
          }))
    return err;
  if (create && !valid_alias_name(out.name))
    return invalid_parameter("Name must be 1 to 128 characters of [A-Za-z0-9_-], not all digits");
  if (create && out.function_version.empty())
    return invalid_parameter("FunctionVersion is required");
  if (!out.function_version.empty() && !valid_version(out.function_version))
    return invalid_parameter("FunctionVersion must be $LATEST or a version number");
  if (out.description.size() > 256)
    return invalid_parameter("Description is longer than 256 characters");
  return std::nullopt;
}

std::string render_alias(const alias_config& alias, std::string_view tenant, std::string_view name,
                         const arn_scope& scope) {
  json_writer w;
  w.begin_object()
      .field("AliasArn", scope.function_arn(tenant, name) + ":" + alias.name)
      .field("Name", alias.name)
      .field("FunctionVersion", alias.function_version)
      .field("Description", alias.description)
      .field("RevisionId", alias.revision_id);
  if (!alias.additional_version.empty()) {
    char weight[32];
    snprintf(weight, sizeof weight, "%g", alias.additional_weight);
    w.key("RoutingConfig").begin_object().key("AdditionalVersionWeights").begin_object();
    w.key(alias.additional_version).raw(weight);
    w.end_object().end_object();
  }
  w.end_object();
  return w.take();
}

std::optional<api_error> parse_url_config(std::string_view body, bool create, url_config& out) {
  if (auto err =
          each_field(body, [&](std::string_view key, od::value v) -> std::optional<api_error> {
            if (key == "AuthType") {
              if (auto e = get_str(v, key, out.auth_type))
                return e;
              if (out.auth_type != "NONE" && out.auth_type != "AWS_IAM")
                return invalid_parameter("AuthType must be NONE or AWS_IAM");
              return std::nullopt;
            }
            if (key == "Cors") {
              od::object cors;
              std::string_view raw;
              if (v.get_object().get(cors) || cors.raw_json().get(raw))
                return invalid_parameter("Cors must be an object");
              out.cors = std::string{raw};
              return std::nullopt;
            }
            if (key == "InvokeMode") {
              std::string mode;
              if (auto e = get_str(v, key, mode))
                return e;
              if (mode != "BUFFERED")
                return invalid_parameter("InvokeMode " + mode +
                                         " is not supported: function URLs answer BUFFERED");
              return std::nullopt;
            }
            return invalid_parameter("unknown field " + std::string{key});
          }))
    return err;
  if (create && out.auth_type.empty())
    return invalid_parameter("AuthType is required: NONE or AWS_IAM");
  return std::nullopt;
}

const std::string& pick_version(const alias_config& alias, double u) {
  if (!alias.additional_version.empty() && u < alias.additional_weight)
    return alias.additional_version;
  return alias.function_version;
}

std::optional<api_error> parse_create_function(std::string_view body,
                                               create_function_request& out) {
  if (auto err = each_field(
          body, [&](std::string_view key, od::value v) { return parse_field(key, v, out); }))
    return err;
  if (auto err = validate(out.config))
    return err;
  if (out.archive.empty())
    return invalid_parameter("Code.ZipFile is required");
  return std::nullopt;
}

std::optional<api_error> parse_put_concurrency(std::string_view body, int32_t& reserved) {
  bool seen = false;
  if (auto err = each_field(body, [&](std::string_view key, od::value v) {
        if (key != "ReservedConcurrentExecutions")
          return std::optional{invalid_parameter("unknown field " + std::string{key})};
        seen = true;
        return get_int(v, key, reserved);
      }))
    return err;
  if (!seen)
    return invalid_parameter("ReservedConcurrentExecutions is required");
  if (reserved < 0)
    return invalid_parameter("ReservedConcurrentExecutions must be 0 or more");
  return std::nullopt;
}

std::optional<api_error> parse_egress_rules(std::string_view body,
                                            std::vector<std::string>& rules) {
  bool seen = false;
  if (auto err = each_field(body, [&](std::string_view key, od::value v) {
        if (key != "Rules")
          return std::optional{invalid_parameter("unknown field " + std::string{key})};
        seen = true;
        od::array items;
        if (v.get_array().get(items))
          return std::optional{invalid_parameter("Rules must be an array of strings")};
        for (auto item : items) {
          std::string_view text;
          if (item.get_string().get(text))
            return std::optional{invalid_parameter("Rules must be an array of strings")};
          rules.emplace_back(text);
        }
        return std::optional<api_error>{};
      }))
    return err;
  if (!seen)
    return invalid_parameter("Rules is required (an empty array removes every rule)");
  return std::nullopt;
}

std::optional<api_error> parse_event_invoke_config(std::string_view body, int32_t& max_retries,
                                                   int32_t& max_age_s) {
  max_retries = max_age_s = -1;
  if (auto err = each_field(body, [&](std::string_view key, od::value v) {
        if (key == "DestinationConfig")
          return std::optional{
              invalid_parameter("DestinationConfig is not supported: failed events "
                                "become dead letters (GET /troupe/dead-letters)")};
        if (key != "MaximumRetryAttempts" && key != "MaximumEventAgeInSeconds")
          return std::optional{invalid_parameter("unknown field " + std::string{key})};
        int32_t n = 0;
        auto refusal = get_int(v, key, n);
        if (!refusal && n < 0)
          refusal = invalid_parameter(std::string{key} + " cannot be negative");
        (key == "MaximumRetryAttempts" ? max_retries : max_age_s) = n;
        return refusal;
      }))
    return err;
  if (max_retries > 2)
    return invalid_parameter("MaximumRetryAttempts must be 0, 1 or 2");
  if (max_age_s != -1 && (max_age_s < 60 || max_age_s > 21600))
    return invalid_parameter("MaximumEventAgeInSeconds must be from 60 to 21600");
  return std::nullopt;
}

namespace {

std::string iso8601(int64_t ms) {
  std::time_t secs = ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string{buf} + "." + std::to_string(1000 + ms % 1000).substr(1) + "+0000";
}

std::string hex_to_base64(const std::string& hex) {
  std::string raw;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return base64_encode(raw);
}

} // namespace

std::string render_url_config(const url_config& url, std::string_view base,
                              const arn_scope& scope) {
  json_writer w;
  auto arn = scope.function_arn(url.tenant, url.function);
  w.begin_object()
      .field("FunctionUrl", std::string{base} + "/fn/" + url.url_id + "/")
      .field("FunctionArn", url.qualifier.empty() ? arn : arn + ":" + url.qualifier)
      .field("AuthType", url.auth_type);
  if (!url.cors.empty())
    w.key("Cors").raw(url.cors);
  w.field("CreationTime", iso8601(url.created_ms))
      .field("LastModifiedTime", iso8601(url.modified_ms))
      .field("InvokeMode", "BUFFERED")
      .end_object();
  return w.take();
}

std::string render_function_configuration(const function_config& cfg, const arn_scope& scope) {
  json_writer w;
  w.begin_object()
      .field("FunctionName", cfg.name)
      .field("FunctionArn",
             scope.function_arn(cfg.tenant, cfg.name) + (cfg.is_latest() ? "" : ":" + cfg.version))
      .field("Runtime", cfg.runtime)
      .field("Handler", cfg.handler)
      .field("Description", cfg.description)
      .field("CodeSize", cfg.code_size)
      .field("CodeSha256", hex_to_base64(cfg.code_sha256))
      .field("MemorySize", cfg.memory_mb)
      .field("Timeout", cfg.timeout_s)
      .field("LastModified", iso8601(cfg.last_modified_ms))
      .field("Version", cfg.version)
      .field("RevisionId", cfg.revision_id)
      .field("PackageType", "Zip")
      .field("State", "Active")
      .field("LastUpdateStatus", "Successful");
  w.key("Architectures").begin_array().value("x86_64").end_array();
  w.key("Environment").begin_object().key("Variables").begin_object();
  for (const auto& [k, v] : cfg.environment)
    w.field(k, v);
  w.end_object().end_object();
  w.end_object();
  return w.take();
}

} // namespace troupe::net

namespace troupe::net {

bool valid_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  return !parser.parse(text.data(), text.size(), true).get(doc);
}

} // namespace troupe::net
