// The ingress's Lambda management API: functions (create, list, get,
// update, delete), their published versions and aliases, reserved
// concurrency and EventInvokeConfig. Each answers from the controller; the
// invoke path is in ingress.cpp.
#include "actors/ingress_state.hpp"

#include "actors/api_mapping.hpp"
#include "actors/protocol/errc.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <initializer_list>

namespace troupe::ingress_detail {

namespace {

using std::chrono::seconds;

/// A function as a request names it: its id and the qualifier ("" if none).
struct target {
  std::string id; ///< "" when the request was refused
  std::string qualifier;
};

caf::error revision_mismatch() {
  return make_error(errc::revision_mismatch,
                    "The Revision Id provided does not match the latest Revision Id");
}

/// Answers 200 with `render` of what the controller answered, or its error.
template <class T>
std::function<void(T&)> ok_with(responder respond, std::function<std::string(const T&)> render,
                                int status = 200) {
  return [=](T& x) { respond(net::json_response(status, render(x))); };
}

std::function<void(caf::error&)> failed(responder respond) {
  return [=](caf::error& err) { reply_error(respond, err); };
}

void create_function(ingress_ptr self, const caller& who, const net::http_request& req,
                     responder respond) {
  net::create_function_request parsed;
  if (auto err = net::parse_create_function(req.body, parsed))
    return respond(net::error_response(*err));
  parsed.config.tenant = who.tenant;
  auto id = parsed.config.id();
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, std::chrono::seconds(60), create_atom::value,
                std::move(parsed.config), std::move(parsed.archive))
      .then(
          [=](function_config& cfg) {
            drop_routers_of(self, id); // a function of an earlier life may have had versions
            respond(net::json_response(201,
                                       net::render_function_configuration(cfg, self->state.scope)));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// ListFunctions: the caller's functions in name order, MaxItems (1 to 10000,
/// 50 by default) at a time, from after Marker (the NextMarker of the page
/// before: the last name it listed).
void list_functions(ingress_ptr self, const caller& who, const net::http_request& req,
                    responder respond) {
  auto params = net::query_parameters(req.query());
  auto limit = int_param(params, "MaxItems", 50, 1, 10000, respond);
  if (limit < 0)
    return;
  auto marker = params["Marker"];
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, seconds(10), list_atom::value, who.tenant)
      .then(
          [=](std::vector<function_config>& all) {
            auto it = std::upper_bound(
                all.begin(), all.end(), marker,
                [](const std::string& m, const function_config& f) { return m < f.name; });
            net::json_writer w;
            w.begin_object().key("Functions").begin_array();
            int32_t n = 0;
            for (; it != all.end() && n < limit; ++it, ++n)
              w.raw(net::render_function_configuration(*it, self->state.scope));
            w.end_array();
            if (it != all.end())
              w.field("NextMarker", std::prev(it)->name);
            w.end_object();
            respond(net::json_response(200, w.take()));
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

std::string render_concurrency(const function_config& cfg) {
  net::json_writer w;
  w.begin_object();
  if (cfg.reserved_concurrency >= 0)
    w.field("ReservedConcurrentExecutions", cfg.reserved_concurrency);
  w.end_object();
  return w.take();
}

/// UpdateFunctionConfiguration: the body is applied to the stored
/// configuration, which is replaced only if no one changed it meanwhile.
void update_configuration(ingress_ptr self, const std::string& id, const net::http_request& req,
                          responder respond) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto body = req.body;
  self->request(self->state.controller, seconds(10), lookup_atom::value, id)
      .then(
          [=](function_config& current) {
            auto next = current;
            std::string revision;
            if (auto err = net::parse_update_configuration(body, next, revision))
              return respond(net::error_response(*err));
            if (!revision.empty() && revision != current.revision_id)
              return reply_error(respond, revision_mismatch());
            self->request(self->state.controller, seconds(10), update_atom::value, std::move(next),
                          current.revision_id)
                .then(
                    [=](function_config& cfg) {
                      drop_router(self, id); // new instances get the new configuration
                      respond(net::json_response(
                          200, net::render_function_configuration(cfg, self->state.scope)));
                    },
                    [=](caf::error& err) { reply_error(respond, err); });
          },
          [=](caf::error& err) { reply_error(respond, err); });
}

/// Asks the controller for the configuration that `qualifier` of `id` names
/// (an alias: the version it names), then answers what `render` makes of it.
void answer_lookup(ingress_ptr self, const target& fn, responder respond,
                   std::function<std::string(const function_config&)> render) {
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  resolve_qualifier(self, fn.id, fn.qualifier, false, [=](caf::expected<std::string> key) {
    if (!key)
      return reply_error(respond, key.error());
    self->request(self->state.controller, seconds(10), lookup_atom::value, *key)
        .then(ok_with<function_config>(respond, render), failed(respond));
  });
}

void get_function(ingress_ptr self, const target& fn, responder respond) {
  answer_lookup(self, fn, std::move(respond), [self](const function_config& cfg) {
    net::json_writer w;
    w.begin_object()
        .key("Configuration")
        .raw(net::render_function_configuration(cfg, self->state.scope));
    w.key("Code").begin_object().field("RepositoryType", "Troupe").end_object();
    if (cfg.reserved_concurrency >= 0)
      w.key("Concurrency").raw(render_concurrency(cfg));
    w.end_object();
    return w.take();
  });
}

std::function<std::string(const function_config&)> configuration_of(ingress_ptr self) {
  return [self](const function_config& cfg) {
    return net::render_function_configuration(cfg, self->state.scope);
  };
}

/// PublishVersion: $LATEST as it is now becomes the next version.
void publish_version(ingress_ptr self, const std::string& id, const net::http_request& req,
                     responder respond) {
  net::publish_version_request parsed;
  if (auto err = net::parse_publish_version(req.body, parsed))
    return respond(net::error_response(*err));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  self->request(self->state.controller, seconds(60), publish_atom::value, id, parsed.code_sha256,
                parsed.description, parsed.revision)
      .then(ok_with<function_config>(respond, configuration_of(self), 201), failed(respond));
}

/// ListVersionsByFunction: $LATEST, then each version, MaxItems (50) at a
/// time after Marker (the last version of the page before).
void list_versions(ingress_ptr self, const std::string& id, const net::http_request& req,
                   responder respond) {
  auto params = net::query_parameters(req.query());
  auto limit = int_param(params, "MaxItems", 50, 1, 10000, respond);
  if (limit < 0 || !(respond = via_control_plane(self, std::move(respond))))
    return;
  auto marker = params["Marker"];
  self->request(self->state.controller, seconds(10), versions_atom::value, id)
      .then(
          [=](std::vector<function_config>& all) {
            auto it = all.begin();
            if (!marker.empty())
              it = std::find_if(all.begin(), all.end(),
                                [&](const function_config& f) { return f.version == marker; });
            if (it != all.end() && !marker.empty())
              ++it;
            net::json_writer w;
            w.begin_object().key("Versions").begin_array();
            for (int32_t n = 0; it != all.end() && n < limit; ++it, ++n)
              w.raw(net::render_function_configuration(*it, self->state.scope));
            w.end_array();
            if (it != all.end())
              w.field("NextMarker", std::prev(it)->version);
            w.end_object();
            respond(net::json_response(200, w.take()));
          },
          failed(respond));
}

/// UpdateFunctionCode: a new package for $LATEST (with DryRun, only checked;
/// with Publish, also published as the next version, which it answers).
void update_code(ingress_ptr self, const std::string& id, const net::http_request& req,
                 responder respond) {
  auto parsed = std::make_shared<net::update_code_request>();
  if (auto err = net::parse_update_code(req.body, *parsed))
    return respond(net::error_response(*err));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto answer = ok_with<function_config>(respond, configuration_of(self));
  auto publish = [=](function_config& cfg) {
    self->request(self->state.controller, seconds(60), publish_atom::value, id, cfg.code_sha256,
                  std::string{}, cfg.revision_id)
        .then(answer, failed(respond));
  };
  self->request(self->state.controller, seconds(10), lookup_atom::value, id)
      .then(
          [=](function_config& current) {
            if (!parsed->revision.empty() && parsed->revision != current.revision_id)
              return reply_error(respond, revision_mismatch());
            if (parsed->dry_run)
              return answer(current);
            self->request(self->state.controller, seconds(60), code_atom::value, id,
                          std::move(parsed->archive), current.revision_id)
                .then(
                    [=](function_config& cfg) {
                      drop_router(self, id); // new instances of $LATEST run the new code
                      if (parsed->publish)
                        return publish(cfg);
                      answer(cfg);
                    },
                    failed(respond));
          },
          failed(respond));
}

/// DeleteFunction: the function with its versions and aliases, or (with a
/// version qualifier) that version only.
void delete_function(ingress_ptr self, const target& fn, responder respond) {
  const auto& q = fn.qualifier;
  bool version = !q.empty() && q != "$LATEST";
  if (version && q.find_first_not_of("0123456789") != std::string::npos)
    return respond(net::error_response(
        net::invalid_parameter("Qualifier " + q + " is an alias: delete it with DeleteAlias")));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto key = version ? fn.id + ":" + q : fn.id;
  self->request(self->state.controller, seconds(10), remove_atom::value, key)
      .then(
          [=](function_config&) {
            if (version)
              drop_router(self, key);
            else
              drop_routers_of(self, fn.id);
            respond(net::json_response(204, ""));
          },
          failed(respond));
}

/// CreateAlias, ListAliases (`alias` ""), and GetAlias, UpdateAlias, DeleteAlias.
void route_aliases(ingress_ptr self, const caller& who, const std::string& id,
                   std::string_view alias, const net::http_request& req, responder respond) {
  const auto& m = req.method;
  bool collection = alias.empty();
  if (collection ? (m != "POST" && m != "GET") : (m != "GET" && m != "PUT" && m != "DELETE"))
    return respond(method_not_allowed(req));
  std::string name{alias};
  if (!collection && !net::valid_alias_name(name))
    return respond(net::error_response(net::not_found("Alias not found: " + name)));
  alias_config next;
  if (m == "POST" || m == "PUT") {
    if (auto err = net::parse_alias(req.body, m == "POST", next))
      return respond(net::error_response(*err));
    if (m == "PUT")
      next.name = name;
  }
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto fn_name = std::string{net::function_name_of(id)};
  auto tenant = who.tenant;
  auto render = [=](const alias_config& a) {
    return net::render_alias(a, tenant, fn_name, self->state.scope);
  };
  auto changed = [=](const std::string& alias_name) {
    self->state.aliases.erase(id + ":" + alias_name); // this node sees the change at once
  };
  auto& ctl = self->state.controller;
  if (m == "GET" && collection) {
    self->request(ctl, seconds(10), aliases_atom::value, id)
        .then(
            [=](std::vector<alias_config>& all) {
              net::json_writer w;
              w.begin_object().key("Aliases").begin_array();
              for (const auto& a : all)
                w.raw(render(a));
              w.end_array().end_object();
              respond(net::json_response(200, w.take()));
            },
            failed(respond));
  } else if (m == "GET") {
    self->request(ctl, seconds(10), alias_atom::value, id, name)
        .then(ok_with<alias_config>(respond, render), failed(respond));
  } else if (m == "DELETE") {
    self->request(ctl, seconds(10), remove_atom::value, id, name)
        .then(
            [=](alias_config& a) {
              changed(a.name);
              respond(net::json_response(204, ""));
            },
            failed(respond));
  } else {
    self->request(ctl, seconds(10), alias_atom::value, id, std::move(next), m == "POST")
        .then(
            [=](alias_config& a) {
              changed(a.name);
              respond(net::json_response(m == "POST" ? 201 : 200, render(a)));
            },
            failed(respond));
  }
}

/// The caller's function that a path segment names (a name, a name with a
/// qualifier, or an ARN, percent-encoded; a Qualifier parameter counts when
/// the segment has none), or an empty id when `respond` got the refusal.
target function_of(ingress_ptr self, const caller& who, std::string_view segment,
                   const net::http_request& req, const responder& respond) {
  net::function_ref ref;
  if (auto err = net::parse_function_ref(net::percent_decode(segment), ref)) {
    respond(net::error_response(*err));
    return {};
  }
  auto params = net::query_parameters(req.query());
  if (auto it = params.find("Qualifier"); it != params.end() && ref.qualifier.empty())
    ref.qualifier = it->second;
  if ((!ref.account.empty() && ref.account != net::account_id(who.tenant)) ||
      (!ref.region.empty() && ref.region != self->state.scope.region)) {
    // Another account's (tenant's) or region's function: not this caller's to see.
    respond(net::error_response(net::not_found("Function not found: " + std::string{segment})));
    return {};
  }
  return {net::function_id(who.tenant, ref.name), ref.qualifier};
}

/// The id of the caller's function in `rest` = "{name}{suffix}", for requests
/// that concern the function as a whole ($LATEST); else "" (and `respond`
/// got the refusal).
std::string latest_before(ingress_ptr self, const caller& who, std::string_view rest,
                          std::string_view suffix, const net::http_request& req,
                          const responder& respond) {
  auto segment = rest.substr(0, rest.find('/'));
  if (rest.substr(segment.size()) != suffix) {
    respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
    return {};
  }
  auto fn = function_of(self, who, segment, req, respond);
  if (!fn.id.empty() && !fn.qualifier.empty() && fn.qualifier != "$LATEST") {
    respond(net::error_response(net::invalid_parameter(
        "this operation applies to the whole function: it takes no qualifier")));
    return {};
  }
  return fn.id;
}

} // namespace

/// /2015-03-31/functions[/{name}[/invocations|/configuration|/code|/versions|/aliases[/{a}]]]
void route_functions(ingress_ptr self, const caller& who, std::string_view rest,
                     net::http_request& req, responder respond) {
  if (!rest.empty() && rest.front() == '/')
    rest.remove_prefix(1);
  const auto& m = req.method;
  if (rest.empty()) {
    if (m == "POST")
      return create_function(self, who, req, std::move(respond));
    if (m == "GET")
      return list_functions(self, who, req, std::move(respond));
    return respond(method_not_allowed(req));
  }
  auto slash = rest.find('/');
  auto tail = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (tail.size() > 1 && tail.back() == '/')
    tail.remove_suffix(1);
  auto fn = function_of(self, who, rest.substr(0, slash), req, respond);
  if (fn.id.empty())
    return;
  auto allowed = [&](std::initializer_list<std::string_view> methods) {
    if (std::find(methods.begin(), methods.end(), m) != methods.end())
      return true;
    respond(method_not_allowed(req));
    return false;
  };
  // What changes $LATEST or the function as a whole takes no version or alias.
  auto whole = [&] {
    if (fn.qualifier.empty() || fn.qualifier == "$LATEST")
      return true;
    respond(net::error_response(net::invalid_parameter(
        "this operation applies to $LATEST: it takes no qualifier " + fn.qualifier)));
    return false;
  };
  constexpr std::string_view aliases_path = "/aliases";
  if (tail == "/invocations") {
    if (allowed({"POST"}))
      api_invoke(self, fn.id, fn.qualifier, req, std::move(respond));
  } else if (tail == "/configuration") {
    if (!allowed({"GET", "PUT"}))
      return;
    if (m == "GET")
      return answer_lookup(self, fn, std::move(respond), configuration_of(self));
    if (whole())
      update_configuration(self, fn.id, req, std::move(respond));
  } else if (tail == "/code") {
    if (allowed({"PUT"}) && whole())
      update_code(self, fn.id, req, std::move(respond));
  } else if (tail == "/versions") {
    if (!allowed({"GET", "POST"}) || !whole())
      return;
    if (m == "POST")
      return publish_version(self, fn.id, req, std::move(respond));
    list_versions(self, fn.id, req, std::move(respond));
  } else if (tail.substr(0, aliases_path.size()) == aliases_path &&
             (tail.size() == aliases_path.size() || tail[aliases_path.size()] == '/')) {
    auto alias = tail.substr(std::min(tail.size(), aliases_path.size() + 1));
    if (whole())
      route_aliases(self, who, fn.id, alias, req, std::move(respond));
  } else if (tail.empty() || tail == "/") {
    if (!allowed({"GET", "DELETE"}))
      return;
    if (m == "GET")
      return get_function(self, fn, std::move(respond));
    delete_function(self, fn, std::move(respond));
  } else {
    respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
  }
}

/// PUT and DELETE /2017-10-31/functions/{name}/concurrency, GET
/// /2019-09-30/functions/{name}/concurrency: a function's reserved concurrency.
void route_concurrency(ingress_ptr self, const caller& who, std::string_view rest,
                       const net::http_request& req, responder respond) {
  auto id = latest_before(self, who, rest, "/concurrency", req, respond);
  if (id.empty())
    return;
  bool put = req.method == "PUT", del = req.method == "DELETE";
  if (!put && !del && req.method != "GET")
    return respond(method_not_allowed(req));
  int32_t reserved = -1;
  if (put)
    if (auto err = net::parse_put_concurrency(req.body, reserved))
      return respond(net::error_response(*err));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto answer = [=](function_config& cfg) {
    if (put || del)
      drop_routers_of(self, id); // the next invocations' routers have the new limit
    respond(del ? net::json_response(204, "") : net::json_response(200, render_concurrency(cfg)));
  };
  auto failed = [=](caf::error& err) { reply_error(respond, err); };
  if (put || del)
    self->request(self->state.controller, seconds(10), reserve_atom::value, id, reserved)
        .then(answer, failed);
  else
    self->request(self->state.controller, seconds(10), lookup_atom::value, id).then(answer, failed);
}

/// PUT (replace), POST (update), GET and DELETE
/// /2019-09-25/functions/{name}/event-invoke-config: its asynchronous retries.
void route_event_invoke_config(ingress_ptr self, const caller& who, std::string_view rest,
                               const net::http_request& req, responder respond) {
  auto id = latest_before(self, who, rest, "/event-invoke-config", req, respond);
  if (id.empty())
    return;
  auto& m = req.method;
  bool write = m == "PUT" || m == "POST", del = m == "DELETE";
  if (!write && !del && m != "GET")
    return respond(method_not_allowed(req));
  int32_t retries = -1, age_s = -1;
  if (write)
    if (auto err = net::parse_event_invoke_config(req.body, retries, age_s))
      return respond(net::error_response(*err));
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto answer = [=](function_config& cfg) {
    if (write || del)
      drop_routers_of(self, id); // the next events' routers have the new settings
    if (del)
      return respond(net::json_response(204, ""));
    if (!cfg.has_event_invoke_config())
      return respond(net::error_response(
          net::not_found("The function " + cfg.name + " doesn't have an EventInvokeConfig")));
    respond(net::json_response(200, net::render_event_invoke_config(cfg, self->state.scope)));
  };
  auto failed = [=](caf::error& err) { reply_error(respond, err); };
  if (write || del)
    self->request(self->state.controller, seconds(10), async_cfg_atom::value, id, retries, age_s,
                  m == "POST")
        .then(answer, failed);
  else
    self->request(self->state.controller, seconds(10), lookup_atom::value, id).then(answer, failed);
}

/// POST (create), GET, PUT (update), DELETE /2021-10-31/functions/{name}/url
/// [?Qualifier=alias], and GET .../urls: the function's URL configurations.
void route_url_config(ingress_ptr self, const caller& who, std::string_view rest,
                      const net::http_request& req, responder respond) {
  auto segment = rest.substr(0, rest.find('/'));
  auto tail = rest.substr(segment.size());
  if (tail != "/url" && tail != "/urls")
    return respond(net::error_response(net::not_found("unknown route " + std::string{req.path()})));
  auto fn = function_of(self, who, segment, req, respond);
  if (fn.id.empty())
    return;
  const auto& m = req.method;
  bool list = tail == "/urls";
  if (list ? m != "GET" : (m != "POST" && m != "GET" && m != "PUT" && m != "DELETE"))
    return respond(method_not_allowed(req));
  auto qualifier = fn.qualifier == "$LATEST" ? std::string{} : fn.qualifier;
  if (!qualifier.empty() && qualifier.find_first_not_of("0123456789") == std::string::npos)
    return respond(net::error_response(net::invalid_parameter(
        "a function URL is for $LATEST or an alias, not for version " + qualifier)));
  url_config next;
  if (m == "POST" || m == "PUT") {
    if (auto err = net::parse_url_config(req.body, m == "POST", next))
      return respond(net::error_response(*err));
    next.tenant = who.tenant;
    next.function = std::string{net::function_name_of(fn.id)};
    next.qualifier = qualifier;
  }
  if (!(respond = via_control_plane(self, std::move(respond))))
    return;
  auto base = "http://" + std::string{req.header("host")};
  auto render = [self, base](const url_config& u) {
    return net::render_url_config(u, base, self->state.scope);
  };
  auto forget = [self](const url_config& u) { self->state.urls.erase(u.url_id); };
  auto& ctl = self->state.controller;
  if (list) {
    self->request(ctl, seconds(10), url_get_atom::value, fn.id)
        .then(
            [=](std::vector<url_config>& all) {
              net::json_writer w;
              w.begin_object().key("FunctionUrlConfigs").begin_array();
              for (const auto& u : all)
                w.raw(render(u));
              w.end_array().end_object();
              respond(net::json_response(200, w.take()));
            },
            failed(respond));
  } else if (m == "GET") {
    self->request(ctl, seconds(10), url_get_atom::value, fn.id, qualifier)
        .then(ok_with<url_config>(respond, render), failed(respond));
  } else if (m == "DELETE") {
    self->request(ctl, seconds(10), url_del_atom::value, fn.id, qualifier)
        .then(
            [=](url_config& u) {
              forget(u);
              respond(net::json_response(204, ""));
            },
            failed(respond));
  } else {
    self->request(ctl, seconds(10), url_put_atom::value, std::move(next), m == "POST")
        .then(
            [=](url_config& u) {
              forget(u);
              respond(net::json_response(m == "POST" ? 201 : 200, render(u)));
            },
            failed(respond));
  }
}

} // namespace troupe::ingress_detail
