#pragma once

#include "net/function_config.hpp"
#include "net/http_types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::net {

/// A refusal in Lambda's shape: HTTP status, `x-amzn-ErrorType`, message.
struct api_error {
  int status = 400;
  std::string type; ///< e.g. "ResourceNotFoundException"
  std::string message;
  std::string reason{}; ///< of a 429: which limit (Lambda's TooManyRequestsException.Reason)
};

api_error invalid_parameter(std::string message);
api_error not_found(std::string message);

/// The JSON error response Lambda sends: {"Type":"User","message":...}.
http_response error_response(const api_error& e);

/// A JSON response with the given status.
http_response json_response(int status, std::string body);

/// The 12-digit account id that stands for a tenant in ARNs: 000000000000
/// for "default", a stable hash of the name for the others (the same on
/// every node).
std::string account_id(std::string_view tenant);

/// Where the API's ARNs point: arn:aws:lambda:<region>:<account>:function:<name>.
struct arn_scope {
  std::string region = "local";
  std::string function_arn(std::string_view tenant, std::string_view name) const;
};

/// Lambda's function name rule: 1-64 of [A-Za-z0-9_-].
bool valid_function_name(std::string_view name);

/// A parsed and validated CreateFunction request.
struct create_function_request {
  function_config config; ///< everything but the code fields
  std::string archive;    ///< decoded Code.ZipFile
};

/// Parses a CreateFunction body (JSON). Every field is checked: unknown runtimes,
/// memory outside 128..10240 or not a multiple of 128, timeouts outside 1..900,
/// bad names, a missing or non-base64 Code.ZipFile are refused with 400.
std::optional<api_error> parse_create_function(std::string_view body, create_function_request& out);

/// A function as an API path or parameter names it: "name", "name:qualifier",
/// "account:function:name[:qualifier]" or the full ARN
/// "arn:aws:lambda:region:account:function:name[:qualifier]" (already
/// percent-decoded). The error, or nullopt with `out` set (its parts "" when
/// the reference has none).
struct function_ref {
  std::string name;
  std::string qualifier;
  std::string region;  ///< of a full ARN
  std::string account; ///< of a full or partial ARN
};
std::optional<api_error> parse_function_ref(std::string_view ref, function_ref& out);

/// Applies an UpdateFunctionConfiguration body to `cfg` (Runtime, Handler,
/// Description, MemorySize, Timeout, Environment, which replaces all
/// variables; other Lambda fields are accepted and ignored) and checks the
/// result as CreateFunction does. `revision` gets the body's RevisionId ("" if
/// none). The error, or nullopt.
std::optional<api_error> parse_update_configuration(std::string_view body, function_config& cfg,
                                                    std::string& revision);

/// A parsed UpdateFunctionCode request.
struct update_code_request {
  std::string archive;  ///< decoded ZipFile
  std::string revision; ///< RevisionId, "" if none
  bool dry_run = false; ///< only check, change nothing
  bool publish = false; ///< publish a version of the new code
};

/// A parsed PublishVersion request.
struct publish_version_request {
  std::string code_sha256; ///< hex of the CodeSha256 given ("" if none)
  std::string description;
  std::string revision;
};

/// Parses a PublishVersion body (CodeSha256 in base64, Description, RevisionId;
/// an empty body is fine). The error, or nullopt.
std::optional<api_error> parse_publish_version(std::string_view body, publish_version_request& out);

/// Lambda's alias name rule: 1-128 of [A-Za-z0-9_-], not all digits.
bool valid_alias_name(std::string_view name);

/// Parses a CreateAlias (`create`: Name and FunctionVersion required) or
/// UpdateAlias body into `out`: Name, FunctionVersion ("$LATEST" or a
/// number), Description, RoutingConfig.AdditionalVersionWeights (at most one
/// version, weight 0..1) and, for updates, RevisionId (into out.revision_id).
std::optional<api_error> parse_alias(std::string_view body, bool create, alias_config& out);

/// The AliasConfiguration JSON object of `alias`, of the function `name` of `tenant`.
std::string render_alias(const alias_config& alias, std::string_view tenant, std::string_view name,
                         const arn_scope& scope);

/// Parses a Create- (`create`: AuthType required) or
/// UpdateFunctionUrlConfig body into `out`: AuthType (NONE or AWS_IAM), Cors
/// (an object, kept as given), InvokeMode (BUFFERED only). The error, or nullopt.
std::optional<api_error> parse_url_config(std::string_view body, bool create, url_config& out);

/// The FunctionUrlConfig JSON object of `url`; `base` is the ingress's
/// address as the caller reached it ("http://host:port").
std::string render_url_config(const url_config& url, std::string_view base, const arn_scope& scope);

/// Which version an invocation of `alias` runs, given a uniform random number
/// `u` in [0, 1): the additional version for a share of `additional_weight`.
const std::string& pick_version(const alias_config& alias, double u);

/// Parses an UpdateFunctionCode body: ZipFile (base64) is required; S3 and
/// image sources and Publish are refused with 400 naming them.
std::optional<api_error> parse_update_code(std::string_view body, update_code_request& out);

/// Parses a PutFunctionConcurrency body: {"ReservedConcurrentExecutions": N},
/// N a whole number from 0. Returns the error to answer, or nullopt.
std::optional<api_error> parse_put_concurrency(std::string_view body, int32_t& reserved);

/// A PUT /troupe/egress/{tenant} body: {"Rules": ["10.0.0.0/8", ...]}, the
/// rules as strings (their meaning is checked where they are kept). The
/// error, or nullopt.
std::optional<api_error> parse_egress_rules(std::string_view body, std::vector<std::string>& rules);

/// A Put- or UpdateFunctionEventInvokeConfig body: MaximumRetryAttempts
/// (0..2) and MaximumEventAgeInSeconds (60..21600), each -1 when absent.
/// Destinations are refused (not supported). The error, or nullopt.
std::optional<api_error> parse_event_invoke_config(std::string_view body, int32_t& max_retries,
                                                   int32_t& max_age_s);

/// The FunctionEventInvokeConfig JSON object of `cfg`.
std::string render_event_invoke_config(const function_config& cfg, const arn_scope& scope);

/// The FunctionConfiguration JSON object of `cfg` (a published version's
/// FunctionArn carries its number).
std::string render_function_configuration(const function_config& cfg, const arn_scope& scope);

/// The host runtime family of a Lambda runtime name: "provided" for provided*,
/// "python3" for python3*, "" when unsupported.
std::string runtime_family(std::string_view runtime);

/// The function-URL event (payload format 2.0) for `req`, whose path below
/// /fn/{name} is `raw_path`.
std::string function_url_event(const http_request& req, std::string_view raw_path,
                               std::string_view request_id, int64_t now_ms);

/// Maps a function's result to the function-URL HTTP response: an object with
/// `statusCode` is taken apart ({statusCode, headers, cookies, body,
/// isBase64Encoded}); any other JSON is a 200 application/json body.
http_response function_url_response(std::string_view payload);

} // namespace troupe::net

namespace troupe::net {

/// Whether `text` is one complete, valid JSON document.
bool valid_json(std::string_view text);

} // namespace troupe::net
