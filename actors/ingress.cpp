#include "actors/ingress.hpp"
#include "actors/ingress_state.hpp"

#include "actors/api_mapping.hpp"
#include "actors/clock.hpp"
#include "actors/invocation_record.hpp"
#include "actors/policy/admission.hpp"
#include "actors/protocol/errc.hpp"
#include "net/client_context.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"
#include "net/tenants_file.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>

namespace troupe::ingress_detail {

void reply_error(const responder& respond, const caf::error& err) {
  auto api = to_api_error(err);
  auto r = net::error_response(api);
  if (api.status == 429 || api.status == 503)
    r.set("Retry-After", "1");
  respond(std::move(r));
}

caf::error control_plane_down() {
  return make_error(errc::control_plane_down,
                    "the cluster's controller is unreachable; try again shortly");
}

/// Whether the control plane is here; if not, `respond` got a 503.
bool control_plane_up(ingress_ptr self, const responder& respond) {
  if (self->state.controller && self->state.scheduler)
    return true;
  reply_error(respond, control_plane_down());
  return false;
}

/// The responder for an answer that comes from the control plane: answered
/// once, by that answer or with a 503 when the control plane is lost first (a
/// request to a lost remote actor waits for its whole timeout). Without a
/// control plane, `respond` gets its 503 now and the result is empty.
int32_t int_param(const std::map<std::string, std::string>& params, const std::string& name,
                  int32_t fallback, int32_t lo, int32_t hi, const responder& respond) {
  auto it = params.find(name);
  if (it == params.end())
    return fallback;
  char* end = nullptr;
  auto n = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || n < lo || n > hi) {
    respond(net::error_response(net::invalid_parameter(name + " must be a whole number from " +
                                                       std::to_string(lo) + " to " +
                                                       std::to_string(hi))));
    return -1;
  }
  return static_cast<int32_t>(n);
}

responder via_control_plane(ingress_ptr self, responder respond) {
  if (!control_plane_up(self, respond))
    return {};
  auto slot = std::make_shared<responder>(std::move(respond));
  auto& all = self->state.on_control_plane;
  if (all.size() >= 64) // now and then, forget the answered ones
    all.erase(std::remove_if(all.begin(), all.end(), [](auto& w) { return w.expired(); }),
              all.end());
  all.push_back(slot);
  return [slot](net::http_response r) {
    if (!*slot)
      return;
    auto once = std::move(*slot);
    *slot = nullptr;
    once(std::move(r));
  };
}

net::http_response method_not_allowed(const net::http_request& req) {
  return net::error_response(
      {405, "MethodNotAllowedException",
       "method " + req.method + " is not allowed on " + std::string{req.path()}});
}

namespace {

/// A random UUID (version 4), as Lambda request ids are.
std::string new_request_id(std::mt19937_64& rng) {
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x4000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(a >> 32),
           unsigned((a >> 16) & 0xffff), unsigned(a & 0xffff), unsigned(b >> 48),
           static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

/// Wraps a responder so that the in-flight count drops when it is answered,
/// and every answer carries a request id (x-amzn-RequestId), as Lambda's do.
responder tracked(ingress_ptr self, responder respond) {
  ++self->state.in_flight;
  return [self, respond = std::move(respond)](net::http_response r) {
    --self->state.in_flight; // runs in the actor: only called from its handlers
    bool has_id = std::any_of(r.headers.begin(), r.headers.end(), [](const net::http_header& h) {
      return net::iequals(h.name, "x-amzn-RequestId");
    });
    if (!has_id)
      r.set("x-amzn-RequestId", new_request_id(self->state.rng));
    respond(std::move(r));
  };
}

} // namespace

/// Forgets the router of a function whose configuration changed (or that was
/// deleted): the next invocation makes a new one. The old one retires: it
/// answers what it holds and what is on its way to it, then ends (killing it
/// would leave those requests without an answer).
void drop_router(ingress_ptr self, const std::string& id) {
  auto it = self->state.routers.find(id);
  if (it == self->state.routers.end())
    return;
  auto hdl = it->second.hdl;
  self->send(hdl, drain_atom::value);
  self->state.retiring.emplace(hdl.address(), hdl);
  self->state.routers.erase(it);
}

void drop_routers_of(ingress_ptr self, const std::string& id) {
  std::vector<std::string> keys;
  for (const auto& [key, _] : self->state.routers)
    if (key == id || key.rfind(id + ":", 0) == 0)
      keys.push_back(key);
  for (const auto& key : keys)
    drop_router(self, key);
}

void resolve_qualifier(ingress_ptr self, const std::string& id, const std::string& qualifier,
                       bool weighted, std::function<void(caf::expected<std::string>)> then) {
  if (qualifier.empty() || qualifier == "$LATEST")
    return then(id);
  if (qualifier.find_first_not_of("0123456789") == std::string::npos)
    return then(id + ":" + qualifier);
  auto choose = [self, id, weighted](const alias_config& a) {
    auto u = std::uniform_real_distribution<double>{0.0, 1.0}(self->state.rng);
    const auto& v = weighted ? net::pick_version(a, u) : a.function_version;
    return v == "$LATEST" ? id : id + ":" + v;
  };
  auto key = id + ":" + qualifier;
  auto& st = self->state;
  if (auto it = st.aliases.find(key); it != st.aliases.end() && it->second.expires_ms > steady_ms())
    return then(choose(it->second.alias));
  if (!st.controller)
    return then(control_plane_down());
  self->request(st.controller, std::chrono::seconds(10), alias_atom::value, id, qualifier)
      .then(
          [=](alias_config& a) {
            auto& cache = self->state.aliases;
            if (cache.size() >= 10'000)
              cache.clear();
            cache[key] = {a, steady_ms() + alias_cache_ms};
            then(choose(a));
          },
          [=](caf::error& err) { then(std::move(err)); });
}

namespace {

std::vector<pending_invoke> take_waiting(ingress_ptr self, const std::string& id) {
  auto node = self->state.looking_up.extract(id);
  return node.empty() ? std::vector<pending_invoke>{} : std::move(node.mapped());
}

/// Why the tenant's limits refuse a request now, or none.
caf::error refusal_of(ingress_ptr self, const std::string& tenant) {
  auto& adm = self->state.admission;
  switch (adm.admit(tenant, steady_ms())) {
  case policy::refusal::none:
    return {};
  case policy::refusal::rate:
    return make_error(errc::rate_limited, "Rate Exceeded: tenant " + tenant + " may send " +
                                              std::to_string(adm.limits().rate_per_s) +
                                              " requests a second");
  case policy::refusal::concurrency:
    break;
  }
  return make_error(errc::too_many_requests,
                    "Rate Exceeded: tenant " + tenant + " has its limit of " +
                        std::to_string(adm.limits().concurrency) + " invocations in flight");
}

/// Sends one invocation to the function's router, if its tenant's limits
/// admit it. The router answers every invoke by its deadline: no timer is
/// needed here.
void send_to_router(ingress_ptr self, const router_entry& router, pending_invoke p) {
  auto credit = router.credit;
  if (credit->outstanding >= credit->granted)
    return p.done(queue_full(router.cfg.name));
  if (auto refused = refusal_of(self, router.cfg.tenant))
    return p.done(std::move(refused));
  ++credit->outstanding;
  auto deadline = now_ms() + self->state.cfg.routers.max_wait_ms + net::max_timeout_s * 1000LL;
  invocation inv{p.id,
                 std::move(p.payload),
                 deadline,
                 std::move(p.client_context),
                 p.want_log_tail,
                 std::move(p.trace_id)};
  auto tenant = router.cfg.tenant;
  auto version = router.cfg.version;
  self->request(router.hdl, caf::infinite, invoke_atom::value, std::move(inv))
      .then(
          [=](invocation_result& res) {
            --credit->outstanding;
            self->state.admission.release(tenant);
            res.version = version;
            p.done(std::move(res));
          },
          [=](caf::error& err) {
            --credit->outstanding;
            self->state.admission.release(tenant);
            // A router ends only when its function was deleted or replaced.
            if (err == caf::sec::request_receiver_down)
              return p.done(make_error(errc::function_not_found, "Function not found"));
            p.done(std::move(err));
          });
}

/// Routes to the function's router, first making it (after one lookup shared
/// by every invocation that arrives meanwhile) when there is none.
void invoke(ingress_ptr self, const std::string& id, pending_invoke p) {
  auto& st = self->state;
  if (auto it = st.routers.find(id); it != st.routers.end())
    return send_to_router(self, it->second, std::move(p));
  if (!st.controller || !st.scheduler)
    return p.done(control_plane_down());
  auto [it, first] = st.looking_up.try_emplace(id);
  it->second.push_back(std::move(p));
  if (!first)
    return;
  self->request(st.controller, std::chrono::seconds(10), lookup_atom::value, id)
      .then(
          [=](function_config& cfg) {
            auto waiting = take_waiting(self, id);
            if (waiting.empty() || !self->state.scheduler)
              return; // answered when the control plane was lost
            auto entry_cfg = cfg;
            auto credit = std::make_shared<router_credit>();
            credit->granted = router_capacity(self->state.cfg.routers, cfg);
            auto r = spawn_router(self->system(), std::move(cfg), self->state.cfg.routers,
                                  self->state.scheduler, self->state.connector);
            self->monitor(r); // not linked: a router's end is not the ingress's
            auto& entry = self->state.routers[id] =
                router_entry{r, std::move(entry_cfg), std::move(credit)};
            for (auto& w : waiting)
              send_to_router(self, entry, std::move(w));
          },
          [=](caf::error& err) {
            for (auto& waiting : take_waiting(self, id))
              waiting.done(err);
          });
}

/// The answer to an HTTP invocation once its router has answered.
std::function<void(caf::expected<invocation_result>)> answer_with(
    responder respond, std::string id,
    std::function<net::http_response(const invocation_result&, const std::string&)> render) {
  return [=](caf::expected<invocation_result> res) {
    if (res)
      respond(render(*res, id));
    else
      reply_error(respond, res.error());
  };
}

/// Routes to the router of the version that `qualifier` names: $LATEST, a
/// version number, or an alias (which may split its invocations by weight).
void invoke_qualified(ingress_ptr self, const std::string& id, const std::string& qualifier,
                      pending_invoke p) {
  // Every invocation's metrics and log record, once it has its answer.
  p.done = [done = std::move(p.done), id, request_id = p.id,
            since = std::chrono::steady_clock::now()](caf::expected<invocation_result> res) {
    std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - since;
    auto summary = summarize(res);
    count_invocation(id, summary, took.count());
    done(std::move(res));
    log_invocation(id, request_id, summary, took.count()); // the caller does not wait for it
  };
  resolve_qualifier(self, id, qualifier, true, [=](caf::expected<std::string> key) {
    if (!key)
      return p.done(std::move(key.error()));
    invoke(self, *key, p);
  });
}

/// Queues an Event invocation durably and answers 202: delivery comes later,
/// from the event queue, at least once, to the version `qualifier` names
/// then. The function must exist.
void enqueue_event(ingress_ptr self, const std::string& id, const std::string& qualifier,
                   std::string payload, responder respond) {
  auto& st = self->state;
  if (!st.events)
    return reply_error(respond, make_error(errc::overloaded, "this node takes no asynchronous "
                                                             "invocations yet; try again shortly"));
  async_event ev;
  ev.id = new_request_id(st.rng);
  ev.function = qualifier.empty() ? id : id + ":" + qualifier;
  ev.payload = std::move(payload);
  auto queue_it = [=](async_event ev, const function_config& cfg) {
    ev.max_retries = cfg.async_max_retries; // its EventInvokeConfig, if it has one
    ev.max_age_ms = cfg.async_max_age_s < 0 ? -1 : cfg.async_max_age_s * 1000LL;
    self->request(self->state.events, std::chrono::seconds(10), enqueue_atom::value, std::move(ev))
        .then(
            [=](std::string& id) {
              auto r = net::json_response(202, "");
              r.set("x-amzn-RequestId", id);
              respond(std::move(r));
            },
            [=](caf::error& err) { reply_error(respond, err); });
  };
  // The version must exist now; an alias is resolved again at each delivery.
  resolve_qualifier(self, id, qualifier, false, [=](caf::expected<std::string> key) mutable {
    if (!key)
      return reply_error(respond, key.error());
    auto& st = self->state;
    if (auto it = st.routers.find(*key); it != st.routers.end()) // no lookup needed
      return queue_it(std::move(ev), it->second.cfg);
    if (!control_plane_up(self, respond))
      return;
    self->request(st.controller, std::chrono::seconds(10), lookup_atom::value, *key)
        .then([=](function_config& cfg) mutable { queue_it(std::move(ev), cfg); },
              [=](caf::error& err) { reply_error(respond, err); });
  });
}

} // namespace

void api_invoke(ingress_ptr self, const std::string& id, const std::string& qualifier,
                net::http_request& req, responder respond) {
  auto type = req.header("X-Amz-Invocation-Type");
  auto limit =
      type == "Event" ? self->state.cfg.max_async_payload : self->state.cfg.max_sync_payload;
  if (req.body.size() > limit)
    return respond(net::error_response(
        {413, "RequestEntityTooLargeException",
         "Request must be smaller than " + std::to_string(limit) + " bytes for the " +
             (type == "Event" ? "asynchronous " : "") + "InvokeFunction operation"}));
  if (req.body.empty())
    req.body = "{}";
  if (!net::valid_json(req.body))
    return respond(net::error_response(
        {400, "InvalidRequestContentException", "Could not parse request body into json"}));
  std::string client_context; // for the runtime's Lambda-Runtime-Client-Context (sync only)
  if (auto err = net::decode_client_context(req.header("X-Amz-Client-Context"), client_context))
    return respond(net::error_response(*err));
  auto log_type = req.header("X-Amz-Log-Type");
  if (!log_type.empty() && log_type != "None" && log_type != "Tail")
    return respond(net::error_response(
        net::invalid_parameter("LogType " + std::string{log_type} + " is not one of None, Tail")));
  if (type == "DryRun") {
    if (!(respond = via_control_plane(self, std::move(respond))))
      return;
    resolve_qualifier(self, id, qualifier, false, [=](caf::expected<std::string> key) {
      if (!key)
        return reply_error(respond, key.error());
      self->request(self->state.controller, std::chrono::seconds(10), lookup_atom::value, *key)
          .then([=](function_config&) { respond(net::json_response(204, "")); },
                [=](caf::error& err) { reply_error(respond, err); });
    });
    return;
  }
  if (type == "Event")
    return enqueue_event(self, id, qualifier, std::move(req.body), std::move(respond));
  if (!type.empty() && type != "RequestResponse")
    return respond(net::error_response(net::invalid_parameter(
        "InvocationType " + std::string{type} + " is not one of RequestResponse, Event, DryRun")));
  auto request_id = new_request_id(self->state.rng);
  invoke_qualified(self, id, qualifier,
                   {request_id, std::move(req.body),
                    answer_with(std::move(respond), request_id, invoke_response),
                    std::move(client_context), log_type == "Tail",
                    std::string{req.header("X-Amzn-Trace-Id")}});
}

namespace {

void url_invoke(ingress_ptr self, const std::string& id, const std::string& qualifier,
                std::string_view raw_path, const net::http_request& req, responder respond) {
  auto request_id = new_request_id(self->state.rng);
  auto event = net::function_url_event(req, raw_path, request_id, now_ms());
  invoke_qualified(self, id, qualifier,
                   {request_id,
                    std::move(event),
                    answer_with(std::move(respond), request_id,
                                [](const invocation_result& res, const std::string&) {
                                  if (res.function_error)
                                    return net::json_response(
                                        502, "{\"Message\":\"Internal Server Error\"}");
                                  return net::function_url_response(res.payload);
                                }),
                    {},
                    false,
                    std::string{req.header("X-Amzn-Trace-Id")}});
}

/// /fn/{name}[/{path...}]: the function URL (of the caller's tenant).
net::http_response url_refusal(int status, std::string_view message) {
  net::json_writer w;
  w.begin_object().field("Message", message).end_object();
  return net::json_response(status, w.take());
}

/// A request to a function URL whose configuration is `url`: NONE takes it
/// as it is, AWS_IAM only signed by a key of the function's tenant.
void url_request(ingress_ptr self, const url_config& url, net::http_request req,
                 responder respond) {
  auto id = net::function_id(url.tenant, url.function);
  auto go = [self, id, qualifier = url.qualifier](net::http_request& req, responder respond) {
    auto rest = req.path().substr(4); // "/fn/"
    auto slash = rest.find('/');
    auto raw_path = slash == std::string_view::npos ? std::string_view{"/"} : rest.substr(slash);
    url_invoke(self, id, qualifier, raw_path, req, std::move(respond));
  };
  if (url.open())
    return go(req, std::move(respond));
  authenticate(
      self, std::move(req), std::move(respond),
      [go, tenant = url.tenant](const caller& who, net::http_request& req, responder respond) {
        if (who.tenant != tenant)
          return respond(url_refusal(403, "Forbidden"));
        go(req, std::move(respond));
      });
}

/// /fn/{url id}[/{path...}]: a function URL. With auth.anonymous, /fn/{name}
/// also reaches the anonymous tenant's function of that name (a development
/// convenience: no URL configuration needed).
void route_function_url(ingress_ptr self, net::http_request req, responder respond) {
  auto rest = req.path().substr(4);
  std::string url_id{rest.substr(0, rest.find('/'))};
  auto& st = self->state;
  auto fallback = [self](net::http_request& req, responder respond) {
    auto rest = req.path().substr(4);
    auto name = rest.substr(0, rest.find('/'));
    if (!self->state.cfg.anonymous || !net::valid_function_name(name))
      return respond(url_refusal(404, "no function URL at " + std::string{req.path()}));
    url_config dev{std::string{name},
                   self->state.cfg.anonymous_tenant,
                   std::string{name},
                   "",
                   "NONE",
                   "",
                   0,
                   0};
    url_request(self, dev, std::move(req), std::move(respond));
  };
  if (auto it = st.urls.find(url_id); it != st.urls.end() && it->second.expires_ms > steady_ms())
    return it->second.known ? url_request(self, it->second.url, std::move(req), std::move(respond))
                            : fallback(req, std::move(respond));
  if (!control_plane_up(self, respond))
    return;
  auto shared = std::make_shared<net::http_request>(std::move(req));
  self->request(st.controller, std::chrono::seconds(10), url_find_atom::value, url_id)
      .then(
          [=](url_config& url) {
            if (self->state.urls.size() >= 10'000)
              self->state.urls.clear();
            self->state.urls[url_id] = {url, true, steady_ms() + url_cache_ms};
            url_request(self, url, std::move(*shared), respond);
          },
          [=](caf::error& err) {
            if (err != errc::function_not_found)
              return reply_error(respond, err);
            self->state.urls[url_id] = {{}, false, steady_ms() + url_cache_ms};
            fallback(*shared, respond);
          });
}

/// An authenticated request, to its route.
void route_as(ingress_ptr self, const caller& who, net::http_request& req, responder respond) {
  auto path = req.path();
  if (path.substr(0, 8) == "/troupe/") {
    if (!who.operator_access)
      return respond(net::error_response(
          {403, "AccessDeniedException",
           "tenant " + who.tenant + " is not allowed to use Troupe's operator routes"}));
    return route_operations(self, path.substr(8), req, std::move(respond));
  }
  for (std::string_view version : {"/2017-10-31/functions/", "/2019-09-30/functions/"})
    if (path.substr(0, version.size()) == version)
      return route_concurrency(self, who, path.substr(version.size()), req, std::move(respond));
  if (constexpr std::string_view v = "/2021-10-31/functions/"; path.substr(0, v.size()) == v)
    return route_url_config(self, who, path.substr(v.size()), req, std::move(respond));
  if (constexpr std::string_view v = "/2019-09-25/functions/"; path.substr(0, v.size()) == v)
    return route_event_invoke_config(self, who, path.substr(v.size()), req, std::move(respond));
  if (path.substr(0, functions_path.size()) == functions_path &&
      (path.size() == functions_path.size() || path[functions_path.size()] == '/'))
    return route_functions(self, who, path.substr(functions_path.size()), req, std::move(respond));
  respond(net::error_response(net::not_found("unknown route " + std::string{path})));
}

void route(ingress_ptr self, http_exchange& ex) {
  if (self->state.in_flight >= self->state.cfg.max_in_flight) {
    auto r = net::error_response({503, "ServiceException", "the ingress is overloaded"});
    r.set("Retry-After", "1");
    return ex.respond(std::move(r));
  }
  auto respond = tracked(self, std::move(ex.respond));
  if (ex.request.path() == "/healthz")
    return respond(net::json_response(200, "{\"status\":\"ok\"}"));
  if (ex.request.path().substr(0, 4) == "/fn/") // authenticated or not, as its URL says
    return route_function_url(self, std::move(ex.request), std::move(respond));
  authenticate(self, std::move(ex.request), std::move(respond),
               [self](const caller& who, net::http_request& req, responder respond) {
                 route_as(self, who, req, std::move(respond));
               });
}

/// The controller's node went: what waits on it is answered now, and what
/// needs it is refused until it is back (the routers see it go themselves).
void lose_control_plane(ingress_ptr self) {
  auto& st = self->state;
  for (const auto& hdl : {caf::actor_cast<caf::actor_addr>(st.controller),
                          caf::actor_cast<caf::actor_addr>(st.scheduler)})
    if (hdl)
      self->demonitor(hdl);
  st.controller = nullptr;
  st.scheduler = nullptr;
  auto waiting = std::move(st.on_control_plane);
  st.on_control_plane.clear();
  for (auto& w : waiting)
    if (auto slot = w.lock(); slot && *slot)
      reply_error(std::exchange(*slot, nullptr), control_plane_down());
  auto lookups = std::move(st.looking_up);
  st.looking_up.clear();
  for (auto& [_, invokes] : lookups)
    for (auto& p : invokes)
      p.done(control_plane_down());
  auto key_lookups = std::move(st.key_lookups);
  st.key_lookups.clear();
  for (auto& [_, requests] : key_lookups)
    for (auto& w : requests)
      reply_error(w.respond, control_plane_down());
}

/// The node (re)joined: the control plane's actors, for it and its routers.
void join(ingress_ptr self, scheduler_actor scheduler, controller_actor controller) {
  lose_control_plane(self);
  auto& st = self->state;
  st.controller = std::move(controller);
  st.scheduler = std::move(scheduler);
  self->monitor(st.controller);
  self->monitor(st.scheduler);
  for (const auto& [_, r] : st.routers)
    self->send(r.hdl, join_atom::value, st.scheduler);
}

ingress_actor::behavior_type ingress(ingress_ptr self, ingress_settings cfg,
                                     controller_actor controller, scheduler_actor scheduler,
                                     peer_connector_actor connector) {
  auto& st = self->state;
  st.scope.region = cfg.region;
  st.admission = policy::tenant_admission{cfg.tenants};
  st.cfg = std::move(cfg);
  st.controller = std::move(controller);
  st.scheduler = std::move(scheduler);
  st.connector = std::move(connector);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if ((st.controller && dm.source == st.controller.address()) ||
        (st.scheduler && dm.source == st.scheduler.address()))
      return lose_control_plane(self);
    if (st.retiring.erase(dm.source) > 0)
      return;
    for (auto it = st.routers.begin(); it != st.routers.end(); ++it)
      if (it->second.hdl.address() == dm.source) {
        st.routers.erase(it);
        return;
      }
  });
  // Nothing is linked to the ingress: an exit is the node stopping it, and
  // the routers it made go with it.
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    for (const auto& [_, r] : self->state.routers)
      self->send_exit(r.hdl, msg.reason);
    for (const auto& [_, r] : self->state.retiring)
      self->send_exit(r, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [=](http_atom, http_exchange& ex) { route(self, ex); },
      [=](admin_atom, admin_request& r) -> caf::result<admin_reply> {
        auto rp = self->make_response_promise<admin_reply>();
        net::http_request req;
        req.method = std::move(r.method);
        req.target = std::move(r.target);
        req.body = std::move(r.body);
        for (auto& [name, value] : r.headers)
          req.headers.push_back({name, value});
        req.remote_ip = "admin-console";
        auto respond = tracked(self, [rp](net::http_response res) mutable {
          admin_reply out{static_cast<uint16_t>(res.status), std::move(res.body), {}};
          for (auto& h : res.headers)
            out.headers[h.name] = std::move(h.value);
          rp.deliver(std::move(out));
        });
        if (net::valid_tenant_name(r.tenant))
          route_as(self, caller{r.tenant, true}, req, std::move(respond));
        else
          respond(net::error_response(
              net::invalid_parameter("a tenant's name is 1 to 64 of [A-Za-z0-9_-]")));
        return rp;
      },
      [=](join_atom, scheduler_actor scheduler, controller_actor controller) {
        join(self, std::move(scheduler), std::move(controller));
      },
      [=](invoke_atom, std::string& qualified, invocation& inv) {
        auto rp = self->make_response_promise<invocation_result>();
        auto colon = qualified.find(':'); // the event queue's "id[:qualifier]"
        auto qualifier = colon == std::string::npos ? std::string{} : qualified.substr(colon + 1);
        invoke_qualified(self, qualified.substr(0, colon), qualifier,
                         {inv.request_id, std::move(inv.payload),
                          [rp](caf::expected<invocation_result> res) mutable {
                            if (res)
                              rp.deliver(std::move(*res));
                            else
                              rp.deliver(std::move(res.error()));
                          }});
        return rp;
      },
      [=](join_atom, event_queue_actor events) { self->state.events = std::move(events); },
  };
}

} // namespace

} // namespace troupe::ingress_detail

namespace troupe {

ingress_actor spawn_ingress(caf::actor_system& sys, ingress_settings settings,
                            controller_actor controller, scheduler_actor scheduler,
                            peer_connector_actor connector) {
  declare_invocation_metrics();
  return sys.spawn(ingress_detail::ingress, std::move(settings), std::move(controller),
                   std::move(scheduler), std::move(connector));
}

} // namespace troupe
