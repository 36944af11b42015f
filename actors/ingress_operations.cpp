// Troupe's own HTTP routes for operators, beside the Lambda API: the hosts
// the scheduler places on (and drains), this node's routers with their
// breakers, its event queue and its dead letters, tenants' access keys, and
// functions' invocation logs.
#include "actors/ingress_state.hpp"

#include "actors/clock.hpp"

#include "actors/protocol/errc.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"
#include "net/tenants_file.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <tuple>

namespace troupe::ingress_detail {

namespace {

/// GET /troupe/hosts: the hosts the scheduler places on now.
void list_hosts(ingress_ptr self, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.scheduler, std::chrono::seconds(5), hosts_atom::value)
      .then(
          [=](std::vector<host_status>& hosts) {
            net::json_writer w;
            w.begin_object().key("Hosts").begin_array();
            for (const auto& h : hosts)
              w.begin_object()
                  .field("Id", h.info.id)
                  .field("Zone", h.info.zone)
                  .field("Slots", h.info.slots)
                  .field("FreeSlots", h.info.free_slots)
                  .field("Cpus", h.info.cpus)
                  .field("Instances", h.instances)
                  .field("Draining", h.info.draining)
                  .field("Endpoint", h.info.endpoint)
                  .field("Breaker", h.breaker)
                  .field("BreakerReason", h.breaker_reason)
                  .end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// GET /troupe/instances[?function=F]: every host's instances (F: a
/// function's id "tenant/name", or a name of any tenant), by function.
void list_instances(ingress_ptr self, const net::http_request& req, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto function = net::query_parameters(req.query())["function"];
  self->request(self->state.scheduler, std::chrono::seconds(10), instances_atom::value)
      .then(
          [=](std::vector<instance_status>& all) {
            std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
              return std::tie(a.function, a.started_ms) < std::tie(b.function, b.started_ms);
            });
            auto now = now_ms();
            net::json_writer w;
            w.begin_object().key("Instances").begin_array();
            for (const auto& i : all)
              if (function.empty() || i.function == function ||
                  net::function_name_of(i.function) == function)
                w.begin_object()
                    .field("Id", i.instance_id)
                    .field("Tenant", net::tenant_of(i.function))
                    .field("FunctionName", net::function_name_of(i.function))
                    .field("Host", i.host)
                    .field("State", i.state)
                    .field("StartedMs", i.started_ms)
                    .field("AgeMs", std::max<int64_t>(0, now - i.started_ms))
                    .field("Invocations", i.invocations)
                    .end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// GET /troupe/nodes: the cluster's nodes as the controller's node sees them.
void list_nodes(ingress_ptr self, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, std::chrono::seconds(5), nodes_atom::value)
      .then(
          [=](std::vector<node_status>& nodes) {
            net::json_writer w;
            w.begin_object().key("Nodes").begin_array();
            for (const auto& n : nodes)
              w.begin_object()
                  .field("Name", n.name)
                  .field("State", n.state)
                  .field("SinceMs", n.since_ms)
                  .field("Joins", n.joins)
                  .end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// POST /troupe/hosts/{id}/drain or /undrain.
void drain_host(ingress_ptr self, const std::string& id, bool on, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.scheduler, std::chrono::seconds(5), drain_atom::value, id, on)
      .then(
          [=](bool found) {
            if (!found)
              return respond(net::error_response(net::not_found("no host " + id)));
            net::json_writer w;
            w.begin_object().field("Id", id).field("Draining", on).end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// The event queue's answer, or a 503 when this node has none yet.
bool events_here(ingress_ptr self, const responder& respond) {
  if (self->state.events)
    return true;
  reply_error(respond, make_error(errc::overloaded, "this node has no event queue yet"));
  return false;
}

/// GET /troupe/dead-letters[?function=F&max-items=N]: events given up, oldest
/// first; F is a function's name (of any tenant) or its id, "tenant/name".
void list_dead_letters(ingress_ptr self, const net::http_request& req, responder respond) {
  if (!events_here(self, respond))
    return;
  auto params = net::query_parameters(req.query());
  auto max_items = int_param(params, "max-items", 100, 1, 1000, respond);
  if (max_items < 0)
    return;
  auto function = params.count("function") > 0 ? params["function"] : std::string{};
  self->request(self->state.events, std::chrono::seconds(10), dead_atom::value, function, max_items)
      .then(
          [=](std::vector<async_event>& letters) {
            net::json_writer w;
            w.begin_object().key("DeadLetters").begin_array();
            for (const auto& ev : letters)
              w.begin_object()
                  .field("Id", ev.id)
                  .field("FunctionName", net::function_name_of(ev.function))
                  .field("Tenant", net::tenant_of(ev.function))
                  .field("EnqueuedMs", ev.enqueued_ms)
                  .field("Attempts", ev.attempts)
                  .field("LastError", ev.last_error)
                  .field("Reason", ev.dead_reason)
                  .field("FailedMs", ev.dead_ms)
                  .field("Payload", ev.payload)
                  .end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

void render(net::json_writer& w, const router_stats& r) {
  w.begin_object()
      .field("Tenant", net::tenant_of(r.function))
      .field("FunctionName", net::function_name_of(r.function))
      .field("Requests", r.requests)
      .field("Refused", r.refused)
      .field("Attempts", r.attempts)
      .field("Retries", r.retries)
      .field("RetriesRefused", r.retries_refused)
      .field("LaunchFailures", r.launch_failures)
      .field("Instances", r.instances)
      .field("Queued", r.queued)
      .key("Breakers")
      .begin_array();
  for (const auto& b : r.breakers)
    w.begin_object()
        .field("Host", b.host)
        .field("State", b.state)
        .field("Reason", b.reason)
        .field("TimesOpened", b.times_opened)
        .field("Rejected", b.rejected)
        .end_object();
  w.end_array().end_object();
}

/// GET /troupe/routers: each function's router on this node, its figures and
/// its breakers (a router that does not answer in time is left out).
void list_routers(ingress_ptr self, responder respond) {
  struct gathering {
    std::vector<router_stats> got;
    size_t left = 0;
    responder respond;
  };
  auto g = std::make_shared<gathering>();
  g->left = self->state.routers.size();
  g->respond = std::move(respond);
  auto done = [g] {
    if (--g->left > 0)
      return;
    std::sort(g->got.begin(), g->got.end(),
              [](const auto& a, const auto& b) { return a.function < b.function; });
    net::json_writer w;
    w.begin_object().key("Routers").begin_array();
    for (const auto& r : g->got)
      render(w, r);
    w.end_array().end_object();
    g->respond(net::json_response(200, w.take()));
  };
  if (g->left == 0) {
    g->left = 1;
    return done();
  }
  for (const auto& [_, r] : self->state.routers)
    self->request(r.hdl, std::chrono::seconds(2), stats_atom::value)
        .then(
            [=](router_stats& s) {
              g->got.push_back(std::move(s));
              done();
            },
            [=](caf::error&) { done(); });
}

/// GET /troupe/event-queue: what this node's event queue holds and has done.
void event_queue_status(ingress_ptr self, responder respond) {
  if (!events_here(self, respond))
    return;
  self->request(self->state.events, std::chrono::seconds(10), stats_atom::value)
      .then(
          [=](event_queue_stats& c) {
            net::json_writer w;
            w.begin_object()
                .field("Queued", c.queued)
                .field("InFlight", c.in_flight)
                .field("Delivered", c.delivered)
                .field("Retried", c.retried)
                .field("DeadLettered", c.dead)
                .end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// GET /troupe/logs?function=F[&max-bytes=N]: the latest invocation logs of
/// F ("tenant/name", or a name of the anonymous tenant) from every host, the
/// last N bytes (whole lines, default 64 KiB, at most 1 MiB) of each.
void function_logs(ingress_ptr self, const net::http_request& req, responder respond) {
  auto params = net::query_parameters(req.query());
  auto function = params["function"];
  auto slash = function.find('/');
  auto tenant =
      slash == std::string::npos ? self->state.cfg.anonymous_tenant : function.substr(0, slash);
  auto name = slash == std::string::npos ? function : function.substr(slash + 1);
  if (!net::valid_tenant_name(tenant) || !net::valid_function_name(name))
    return respond(net::error_response(
        net::invalid_parameter("function must be a function's id, tenant/name, or its name")));
  auto max_bytes = int_param(params, "max-bytes", 64 * 1024, 1, 1024 * 1024, respond);
  if (max_bytes < 0)
    return;
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto id = net::function_id(tenant, name);
  self->request(self->state.scheduler, std::chrono::seconds(10), logs_atom::value, id, max_bytes)
      .then(
          [=](std::vector<host_log>& logs) {
            net::json_writer w;
            w.begin_object().field("Function", id).key("Hosts").begin_array();
            for (const auto& l : logs)
              w.begin_object().field("Host", l.host).field("Log", l.log).end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// POST /troupe/dead-letters/{id}/redrive, DELETE /troupe/dead-letters/{id}.
void route_dead_letter(ingress_ptr self, std::string_view rest, const net::http_request& req,
                       responder respond) {
  auto slash = rest.find('/');
  auto id = std::string{rest.substr(0, slash)};
  auto action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  bool redrive = action == "redrive";
  if (id.empty() || !(redrive || action.empty()))
    return respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
  if (req.method != (redrive ? "POST" : "DELETE"))
    return respond(method_not_allowed(req));
  if (!events_here(self, respond))
    return;
  auto answer = [=](bool found) {
    if (!found)
      return respond(net::error_response(net::not_found("no dead letter " + id)));
    if (!redrive)
      return respond(net::json_response(204, ""));
    net::json_writer w;
    w.begin_object().field("Id", id).field("Redriven", true).end_object();
    respond(net::json_response(200, w.take()));
  };
  auto failed = [=](caf::error& err) { reply_error(respond, err); };
  if (redrive)
    self->request(self->state.events, std::chrono::seconds(10), redrive_atom::value, id)
        .then(answer, failed);
  else
    self->request(self->state.events, std::chrono::seconds(10), remove_atom::value, id)
        .then(answer, failed);
}

/// /troupe/hosts/{id}/drain|undrain
void route_host(ingress_ptr self, std::string_view rest, const net::http_request& req,
                responder respond) {
  auto slash = rest.find('/');
  auto id = std::string{rest.substr(0, slash)};
  auto action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (id.empty() || (action != "drain" && action != "undrain"))
    return respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
  if (req.method != "POST")
    return respond(method_not_allowed(req));
  drain_host(self, id, action == "drain", std::move(respond));
}

/// GET /troupe/tenants: every tenant with its access key ids (never secrets).
void list_tenants(ingress_ptr self, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, std::chrono::seconds(10), keys_atom::value)
      .then(
          [=](std::vector<access_key>& keys) {
            std::stable_sort(keys.begin(), keys.end(),
                             [](const auto& a, const auto& b) { return a.tenant < b.tenant; });
            net::json_writer w;
            w.begin_object().key("Tenants").begin_array();
            for (size_t i = 0; i < keys.size();) {
              w.begin_object()
                  .field("Name", keys[i].tenant)
                  .field("Account", net::account_id(keys[i].tenant))
                  .key("AccessKeys")
                  .begin_array();
              auto tenant = keys[i].tenant;
              for (; i < keys.size() && keys[i].tenant == tenant; ++i)
                w.begin_object()
                    .field("AccessKeyId", keys[i].id)
                    .field("Operator", keys[i].operator_access)
                    .field("CreatedMs", keys[i].created_ms)
                    .end_object();
              w.end_array().end_object();
            }
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// POST /troupe/tenants/{name}/keys[?operator=true]: a new access key (its
/// secret is in this answer only); DELETE /troupe/tenants/{name}/keys/{id}:
/// that key no longer signs (on other ingress nodes once auth.key-cache-ttl
/// has passed).
void route_tenant(ingress_ptr self, std::string_view rest, const net::http_request& req,
                  responder respond) {
  auto slash = rest.find('/');
  std::string tenant{rest.substr(0, slash)};
  auto tail = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (!net::valid_tenant_name(tenant))
    return respond(
        net::error_response(net::invalid_parameter("a tenant's name is 1 to 64 of [A-Za-z0-9_-]")));
  bool create = tail == "/keys" || tail == "/keys/";
  bool remove = !create && tail.substr(0, 6) == "/keys/";
  if (!create && !remove)
    return respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
  if ((create && req.method != "POST") || (remove && req.method != "DELETE"))
    return respond(method_not_allowed(req));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto& ctl = self->state.controller;
  if (create) {
    auto op = net::query_parameters(req.query())["operator"] == "true";
    auto c = net::new_credential(tenant, op);
    self->request(ctl, std::chrono::seconds(10), key_put_atom::value,
                  access_key{c.key_id, c.secret, c.tenant, c.operator_access, 0})
        .then(
            [=](access_key& key) {
              net::json_writer w;
              w.begin_object()
                  .field("Tenant", key.tenant)
                  .field("AccessKeyId", key.id)
                  .field("SecretAccessKey", key.secret)
                  .field("Operator", key.operator_access)
                  .end_object();
              respond(net::json_response(201, w.take()));
            },
            [=](caf::error& err) { reply_error(respond, err); });
    return;
  }
  std::string id{tail.substr(6)};
  self->request(ctl, std::chrono::seconds(10), key_atom::value, id)
      .then(
          [=](access_key& key) {
            if (key.tenant != tenant)
              return respond(net::error_response(
                  net::not_found("tenant " + tenant + " has no access key " + id)));
            self->request(self->state.controller, std::chrono::seconds(10), key_del_atom::value, id)
                .then(
                    [=](access_key&) {
                      self->state.keys.erase(id); // this node refuses it at once
                      respond(net::json_response(204, ""));
                    },
                    [=](caf::error& err) { reply_error(respond, err); });
          },
          [=](caf::error& err) {
            if (err == errc::unknown_key)
              return respond(net::error_response(
                  net::not_found("tenant " + tenant + " has no access key " + id)));
            reply_error(respond, err);
          });
}

/// An egress_config as the API shows it.
void write_egress(net::json_writer& w, const egress_config& cfg) {
  w.begin_object().field("Tenant", cfg.tenant).key("Rules").begin_array();
  for (const auto& r : cfg.rules)
    w.value(r);
  w.end_array().field("UpdatedMs", cfg.updated_ms).end_object();
}

/// GET /troupe/egress: every tenant's egress rules (those that have some).
void list_egress(ingress_ptr self, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, std::chrono::seconds(10), egress_atom::value)
      .then(
          [=](std::vector<egress_config>& all) {
            net::json_writer w;
            w.begin_object().key("Tenants").begin_array();
            for (const auto& cfg : all)
              write_egress(w, cfg);
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// GET /troupe/gateways: the vpc_gateways registered with the controller.
void list_gateways(ingress_ptr self, responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, std::chrono::seconds(10), gateways_atom::value)
      .then(
          [=](std::vector<gateway_entry>& all) {
            net::json_writer w;
            w.begin_object().key("Gateways").begin_array();
            for (const auto& g : all)
              w.begin_object().field("Id", g.id).field("Endpoint", g.endpoint).end_object();
            w.end_array().end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// GET /troupe/egress/{tenant}: its rules; PUT with {"Rules": [...]}
/// replaces them (for new connections at once; [] removes them all).
void route_egress(ingress_ptr self, std::string_view rest, const net::http_request& req,
                  responder respond) {
  std::string tenant{rest};
  if (!net::valid_tenant_name(tenant))
    return respond(
        net::error_response(net::invalid_parameter("a tenant's name is 1 to 64 of [A-Za-z0-9_-]")));
  if (req.method != "GET" && req.method != "PUT")
    return respond(method_not_allowed(req));
  egress_config next{tenant, {}, 0};
  if (req.method == "PUT")
    if (auto err = net::parse_egress_rules(req.body, next.rules))
      return respond(net::error_response(*err));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto answer = [=](egress_config& cfg) {
    net::json_writer w;
    write_egress(w, cfg);
    respond(net::json_response(200, w.take()));
  };
  auto failed = [=](caf::error& err) { reply_error(respond, err); };
  if (req.method == "GET")
    self->request(self->state.controller, std::chrono::seconds(10), egress_atom::value, tenant)
        .then(answer, failed);
  else
    self->request(self->state.controller, std::chrono::seconds(10), egress_put_atom::value,
                  std::move(next))
        .then(answer, failed);
}

} // namespace

void route_operations(ingress_ptr self, std::string_view rest, const net::http_request& req,
                      responder respond) {
  auto only_get = [&](auto&& handler) {
    if (req.method != "GET")
      return respond(method_not_allowed(req));
    handler();
  };
  if (rest == "hosts")
    return only_get([&] { list_hosts(self, std::move(respond)); });
  if (rest.substr(0, 6) == "hosts/")
    return route_host(self, rest.substr(6), req, std::move(respond));
  if (rest == "routers")
    return only_get([&] { list_routers(self, std::move(respond)); });
  if (rest == "nodes")
    return only_get([&] { list_nodes(self, std::move(respond)); });
  if (rest == "instances")
    return only_get([&] { list_instances(self, req, std::move(respond)); });
  if (rest == "event-queue")
    return only_get([&] { event_queue_status(self, std::move(respond)); });
  if (rest == "dead-letters")
    return only_get([&] { list_dead_letters(self, req, std::move(respond)); });
  if (rest.substr(0, 13) == "dead-letters/")
    return route_dead_letter(self, rest.substr(13), req, std::move(respond));
  if (rest == "logs")
    return only_get([&] { function_logs(self, req, std::move(respond)); });
  if (rest == "tenants")
    return only_get([&] { list_tenants(self, std::move(respond)); });
  if (rest.substr(0, 8) == "tenants/")
    return route_tenant(self, rest.substr(8), req, std::move(respond));
  if (rest == "egress")
    return only_get([&] { list_egress(self, std::move(respond)); });
  if (rest == "gateways")
    return only_get([&] { list_gateways(self, std::move(respond)); });
  if (rest.substr(0, 7) == "egress/")
    return route_egress(self, rest.substr(7), req, std::move(respond));
  respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
}

} // namespace troupe::ingress_detail
