#pragma once
// The ingress actor's state and the helpers its two source files share:
// ingress.cpp (the Lambda API and the invoke path) and ingress_operations.cpp
// (Troupe's own /troupe/... routes for operators). Not for other actors.

#include "actors/ingress.hpp"
#include "actors/policy/admission.hpp"
#include "net/http_types.hpp"
#include "net/lambda_api.hpp"
#include "net/sigv4.hpp"

#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::ingress_detail {

using responder = net::http_responder;
/// An invocation on its way to a router: from HTTP, or from the event queue.
struct pending_invoke {
  std::string id;
  std::string payload;
  /// Called once: with the function's result, or the error that ended the request.
  std::function<void(caf::expected<invocation_result>)> done;
  std::string client_context{}; ///< decoded X-Amz-Client-Context ("": none)
  bool want_log_tail = false;   ///< X-Amz-Log-Type: Tail
  std::string trace_id{};       ///< the caller's X-Amzn-Trace-Id, passed on to the runtime
};

/// What a router has granted the ingress: it holds at most `granted`
/// invocations at once (its instances and its wait queue), so the ingress
/// never has more outstanding there and refuses the rest itself, without a
/// message to the router.
struct router_credit {
  int32_t granted = 0;
  int32_t outstanding = 0;
};

/// A function's router, the configuration it was made for, and its credit.
struct router_entry {
  managed_router_actor hdl;
  function_config cfg;
  std::shared_ptr<router_credit> credit;
};

/// Who sent a request: the tenant its key signs for.
struct caller {
  std::string tenant;
  bool operator_access = false; ///< may use /troupe/ routes
};

/// What an authenticated request goes on to.
using authenticated = std::function<void(const caller&, net::http_request&, responder)>;

/// An access key this ingress looked up, trusted until `expires_ms` (steady).
/// An unknown key is kept too (with `known` false), briefly.
struct cached_key {
  access_key key;
  bool known = false;
  int64_t expires_ms = 0;
  net::sigv4::signing_key_memo signing{}; ///< its signing key of today
};

/// A request whose key is being looked up.
struct awaiting_key {
  net::sigv4::claim claim; ///< read already: its key id is what is being looked up
  net::http_request req;
  responder respond;
  authenticated then;
};

/// An alias this ingress looked up, trusted until `expires_ms` (steady).
struct cached_alias {
  alias_config alias;
  int64_t expires_ms = 0;
};

/// A function URL this ingress looked up (`known` false: there is none).
struct cached_url {
  url_config url;
  bool known = false;
  int64_t expires_ms = 0;
};

/// How long an alias or function URL is trusted: a change made through
/// another ingress node takes at most this long to reach this one.
constexpr int64_t alias_cache_ms = 5'000;
constexpr int64_t url_cache_ms = 5'000;

struct ingress_state {
  ingress_settings cfg;
  net::arn_scope scope;
  controller_actor controller; ///< both null while the control plane is away
  scheduler_actor scheduler;
  peer_connector_actor connector;
  event_queue_actor events;                    ///< null until the node hands it over
  std::map<std::string, router_entry> routers; ///< by function name
  /// Routers of an earlier configuration, finishing what they hold (see drop_router).
  std::map<caf::actor_addr, managed_router_actor> retiring;
  policy::tenant_admission admission;
  std::map<std::string, std::vector<pending_invoke>> looking_up; ///< waiting for a router
  std::map<std::string, cached_key> keys;                        ///< by access key id
  std::map<std::string, std::vector<awaiting_key>> key_lookups;  ///< by access key id
  std::map<std::string, cached_alias> aliases;                   ///< by "id:alias"
  std::map<std::string, cached_url> urls;                        ///< by url id
  /// Answers that wait on the control plane: given a 503 if it is lost first.
  std::vector<std::weak_ptr<responder>> on_control_plane;
  size_t in_flight = 0;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "troupe.ingress";
};

using ingress_ptr = ingress_actor::stateful_pointer<ingress_state>;

/// Answers `err` as Lambda would (status, error type, Retry-After on 429 and 503).
void reply_error(const responder& respond, const caf::error& err);

/// The 503 of a node without its control plane.
caf::error control_plane_down();

/// Whether the control plane is here; if not, `respond` got a 503.
bool control_plane_up(ingress_ptr self, const responder& respond);

/// The responder for an answer that comes from the control plane: answered
/// once, by that answer or with a 503 when the control plane is lost first.
/// Without a control plane, `respond` gets its 503 now and the result is empty.
responder via_control_plane(ingress_ptr self, responder respond);

net::http_response method_not_allowed(const net::http_request& req);

/// The whole number `name` of a request's query parameters, from `lo` to `hi`
/// (`fallback` when absent), or -1 when `respond` got the refusal.
int32_t int_param(const std::map<std::string, std::string>& params, const std::string& name,
                  int32_t fallback, int32_t lo, int32_t hi, const responder& respond);

inline constexpr std::string_view functions_path = "/2015-03-31/functions";

/// Forgets the router of `key` (a function id, or "id:N" for version N): the
/// next invocation makes a new one; the old one finishes what it holds.
void drop_router(ingress_ptr self, const std::string& key);
/// ... of the function `id` and all its versions.
void drop_routers_of(ingress_ptr self, const std::string& id);

/// The router key that `qualifier` of function `id` stands for: `id` for ""
/// and "$LATEST", "id:N" for version N, and for an alias its version (with
/// `weighted`, the one its routing picks for this invocation). Aliases are
/// cached for alias_cache_ms. Calls `then` with the key or the error.
void resolve_qualifier(ingress_ptr self, const std::string& id, const std::string& qualifier,
                       bool weighted, std::function<void(caf::expected<std::string>)> then);

/// Invoke (POST .../invocations) of the version `qualifier` names.
void api_invoke(ingress_ptr self, const std::string& id, const std::string& qualifier,
                net::http_request& req, responder respond);

/// The Lambda API's management routes (ingress_functions.cpp):
/// /2015-03-31/functions[/...], /2017-10-31 and /2019-09-30/functions/{name}/concurrency,
/// /2019-09-25/functions/{name}/event-invoke-config. `rest` follows the prefix.
void route_functions(ingress_ptr self, const caller& who, std::string_view rest,
                     net::http_request& req, responder respond);
void route_concurrency(ingress_ptr self, const caller& who, std::string_view rest,
                       const net::http_request& req, responder respond);
void route_event_invoke_config(ingress_ptr self, const caller& who, std::string_view rest,
                               const net::http_request& req, responder respond);
/// /2021-10-31/functions/{name}/url[s]: function URL configurations.
void route_url_config(ingress_ptr self, const caller& who, std::string_view rest,
                      const net::http_request& req, responder respond);

/// Checks the request's signature (AWS Signature Version 4) with its key,
/// looked up at the controller once and cached, and calls `then` with the
/// caller; or answers the refusal (403, Lambda's shape). Without
/// authentication (`anonymous`), every request is the anonymous tenant's.
void authenticate(ingress_ptr self, net::http_request req, responder respond, authenticated then);

/// /troupe/{rest}: hosts and drains, routers, the event queue and dead letters.
void route_operations(ingress_ptr self, std::string_view rest, const net::http_request& req,
                      responder respond);

} // namespace troupe::ingress_detail
