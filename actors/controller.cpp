#include "actors/controller.hpp"
#include "actors/controller_state.hpp"

#include "actors/clock.hpp"
#include "actors/policy/egress.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "net/log.hpp"
#include "net/tenants_file.hpp"
#include "storage/digest.hpp"
#include "storage/kv_store.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <random>
#include <stdexcept>

namespace troupe {

namespace controller_detail {

std::string random_revision() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx-%08llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng() & 0xffffffff));
  return buf;
}

/// Builds the archive's package into the origin store (one package for
/// identical trees) and points `cfg` at it; invalid_parameter if the archive
/// is refused (nothing is stored then).
caf::error store_code(controller_ptr self, function_config& cfg, const std::string& archive) {
  auto built = self->state.packages->put_archive(archive, self->state.cfg.limits);
  if (!built)
    return make_error(errc::invalid_parameter, "Could not unzip uploaded file: " + built.error);
  cfg.code_sha256 = storage::to_hex(storage::sha256(archive));
  cfg.code_size = static_cast<int64_t>(archive.size());
  cfg.package = built.digest_hex;
  return {};
}

caf::result<function_config> create(controller_ptr self, function_config cfg,
                                    const std::string& archive) {
  auto& st = self->state;
  auto key = function_key(cfg.id());
  if (st.store->get(key))
    return make_error(errc::function_exists, "Function already exist: " + cfg.name);
  if (auto err = store_code(self, cfg, archive))
    return err;
  cfg.last_modified_ms = now_ms();
  cfg.revision_id = random_revision();
  if (auto err = st.store->put(key, encode(self->system(), cfg)); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return cfg;
}

caf::expected<function_config> read_function(controller_ptr self, const std::string& id) {
  auto bytes = self->state.store->get(function_key(id));
  if (!bytes)
    return make_error(errc::function_not_found,
                      "Function not found: " + std::string{net::function_name_of(id)});
  auto cfg = decode_function(self->system(), *bytes);
  if (!cfg)
    return make_error(errc::storage_failed, "registry record of " + id + " is unreadable");
  return std::move(*cfg);
}

/// A function's $LATEST, or with "id:N" its version N.
caf::result<function_config> lookup(controller_ptr self, const std::string& qualified) {
  auto [id, qualifier] = split_qualified(qualified);
  auto cfg = read_function(self, id);
  if (cfg && !qualifier.empty() && qualifier != "$LATEST")
    cfg = read_version(self, *cfg, qualifier);
  if (!cfg)
    return std::move(cfg.error());
  return std::move(*cfg);
}

/// Every function of `tenant` in name order, or of all tenants when it is "".
std::vector<function_config> list_all(controller_ptr self, const std::string& tenant = {}) {
  std::vector<function_config> out;
  auto prefix = tenant.empty() ? function_key("") : function_key(net::function_id(tenant, ""));
  self->state.store->scan(prefix, [&](std::string_view, std::string_view value) {
    if (auto cfg = decode_function(self->system(), value))
      out.push_back(std::move(*cfg));
    return true;
  });
  return out;
}

/// Tells the scheduler a function's reservation (-1: none).
void tell_reservation(controller_ptr self, const function_config& cfg, int32_t reserved) {
  if (self->state.scheduler)
    self->send(self->state.scheduler, reserve_atom::value, cfg.tenant, cfg.id(), reserved);
}

/// DeleteFunction: the function with all its versions and aliases, or with
/// "id:N" only its version N.
caf::result<function_config> remove(controller_ptr self, const std::string& qualified) {
  auto [id, qualifier] = split_qualified(qualified);
  if (!qualifier.empty() && qualifier != "$LATEST")
    return remove_version(self, id, qualifier);
  auto cfg = read_function(self, id);
  if (!cfg)
    return std::move(cfg.error());
  std::vector<storage::kv_store::change> changes{{function_key(id), std::nullopt}};
  for (auto& key : version_and_alias_keys(self, id))
    changes.push_back({std::move(key), std::nullopt});
  if (auto err = self->state.store->write(changes); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  if (cfg->reserved_concurrency >= 0)
    tell_reservation(self, *cfg, -1);
  // The package stays: another function may share it (packages are collected later).
  return std::move(*cfg);
}

/// The most rules one tenant may have.
constexpr size_t max_egress_rules = 1000;

caf::result<egress_config> get_egress(controller_ptr self, const std::string& tenant) {
  auto bytes = self->state.store->get(egress_key(tenant));
  if (!bytes)
    return egress_config{tenant, {}, 0};
  auto cfg = decode_egress(self->system(), *bytes);
  if (!cfg)
    return make_error(errc::storage_failed, "the egress rules of " + tenant + " are unreadable");
  return std::move(*cfg);
}

std::vector<egress_config> list_egress(controller_ptr self) {
  std::vector<egress_config> out;
  self->state.store->scan("eg/", [&](std::string_view, std::string_view value) {
    if (auto cfg = decode_egress(self->system(), value); cfg && !cfg->rules.empty())
      out.push_back(std::move(*cfg));
    return true;
  });
  return out;
}

/// Replaces a tenant's egress rules with `next`'s, checked and normalized
/// (duplicates dropped, order kept); no rules: the record goes.
caf::expected<egress_config> put_egress(controller_ptr self, egress_config next) {
  if (!net::valid_tenant_name(next.tenant))
    return make_error(errc::invalid_parameter, "a tenant's name is 1 to 64 of [A-Za-z0-9_-]");
  if (next.rules.size() > max_egress_rules)
    return make_error(errc::invalid_parameter,
                      "a tenant has at most " + std::to_string(max_egress_rules) + " egress rules");
  std::vector<std::string> rules;
  for (const auto& text : next.rules) {
    std::string error;
    auto rule = policy::parse_egress_rule(text, &error);
    if (!rule)
      return make_error(errc::invalid_parameter, error);
    if (std::find(rules.begin(), rules.end(), rule->text) == rules.end())
      rules.push_back(rule->text);
  }
  next.rules = std::move(rules);
  next.updated_ms = now_ms();
  auto key = egress_key(next.tenant);
  auto err = next.rules.empty() ? self->state.store->erase(key)
                                : self->state.store->put(key, encode(self->system(), next));
  if (!err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  net::log::info("egress_rules", "egress rules of tenant " + next.tenant +
                                     " set: " + std::to_string(next.rules.size()) + " rules")
      .field("tenant", next.tenant)
      .field("rules", static_cast<int64_t>(next.rules.size()));
  return next;
}

/// How long a rules change waits for the gateways to take it.
constexpr auto gateway_push_timeout = std::chrono::seconds(2);

/// Sets a tenant's rules and answers once every registered gateway has them
/// (or the timeout passed: a gateway that does not answer gets them when it
/// registers again).
caf::result<egress_config> set_egress(controller_ptr self, egress_config next) {
  auto cfg = put_egress(self, std::move(next));
  if (!cfg)
    return std::move(cfg.error());
  if (self->state.gateways.empty())
    return std::move(*cfg);
  auto rp = self->make_response_promise<egress_config>();
  auto waiting = std::make_shared<size_t>(self->state.gateways.size());
  auto answer = [rp, waiting, cfg = *cfg]() mutable {
    if (--*waiting == 0)
      rp.deliver(cfg);
  };
  for (const auto& [_, g] : self->state.gateways)
    self->request(g.gateway, gateway_push_timeout, egress_atom::value, *cfg)
        .then([answer](bool) mutable { answer(); }, [answer](caf::error&) mutable { answer(); });
  return rp;
}

caf::result<std::vector<egress_config>> gateway_up(controller_ptr self, gateway_entry g) {
  if (!g.gateway || g.id.empty())
    return make_error(errc::invalid_parameter, "a gateway registers with a name and its actor");
  self->monitor(g.gateway);
  net::log::info("gateway_up", "gateway " + g.id + " registered" +
                                   (g.endpoint.empty() ? "" : " (at " + g.endpoint + ")"))
      .field("gateway", g.id);
  auto id = g.id;
  self->state.gateways[id] = std::move(g);
  return list_egress(self); // a tenant left out has no rules
}

std::string holding_key(const std::string& package, const std::string& host) {
  return "ph/" + package + "/" + host;
}

/// Where `host` may read `package`: the other hosts holding it, whole ones
/// first (only those whose agent is known), then the origin. The asking
/// host counts as holding part of it from now on (until its next report):
/// hosts asking after it in a burst read from it as it fills.
package_sources sources(controller_ptr self, const std::string& package, const std::string& host) {
  auto& st = self->state;
  package_sources out;
  out.origin = st.cfg.origin;
  auto& hosts = st.held[package];
  hosts.emplace(host, false);
  for (bool whole : {true, false})
    for (const auto& [h, complete] : hosts)
      if (complete == whole && h != host)
        if (auto agent = st.holders.find(h); agent != st.holders.end() && agent->second) {
          out.peers.push_back(agent->second);
          out.peer_ids.push_back(h);
        }
  return out;
}

/// A host's report of every package it holds: replaces its earlier one, in
/// memory and in the registry.
void holdings(controller_ptr self, const std::string& host, package_actor agent,
              const std::vector<std::string>& whole, const std::vector<std::string>& part) {
  auto& st = self->state;
  st.holders[host] = std::move(agent);
  std::map<std::string, bool> now;
  for (const auto& p : part)
    now[p] = false;
  for (const auto& p : whole)
    now[p] = true;
  std::vector<storage::kv_store::change> changes;
  for (auto& [package, hosts] : st.held) {
    auto h = hosts.find(host);
    if (h != hosts.end() && now.count(package) == 0) {
      changes.push_back({holding_key(package, host), std::nullopt});
      hosts.erase(h);
    }
  }
  for (const auto& [package, complete] : now) {
    auto& known = st.held[package];
    auto h = known.find(host);
    if (h == known.end() || h->second != complete)
      changes.push_back({holding_key(package, host), std::string(complete ? "1" : "0")});
    known[host] = complete;
  }
  if (changes.empty())
    return;
  if (auto err = st.store->write(changes); !err.empty())
    net::log::warn("holdings_write", "cannot record the packages of host " + host + ": " + err)
        .field("host", host);
}

/// Functions registered before packages existed get theirs, built from the
/// archive the node kept (a function whose archive is gone is logged: its
/// launches fail until its code is deployed again).
void build_legacy_packages(caf::actor_system& sys, storage::kv_store& store,
                           storage::package_store& packages, const controller_settings& settings) {
  std::vector<std::pair<std::string, function_config>> stale;
  for (const char* prefix : {"fn/", "fv/"})
    store.scan(prefix, [&](std::string_view key, std::string_view value) {
      if (auto cfg = decode_function(sys, value); cfg && cfg->package.empty())
        stale.emplace_back(std::string{key}, std::move(*cfg));
      return true;
    });
  for (auto& [key, cfg] : stale) {
    std::string archive;
    auto path = settings.legacy_code / (cfg.code_sha256 + ".archive");
    if (auto in = fopen(path.c_str(), "rb")) {
      char buf[65536];
      for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;)
        archive.append(buf, n);
      fclose(in);
    }
    auto built = packages.put_archive(archive, settings.limits);
    if (!built) {
      net::log::error("package_missing", "function " + cfg.id() + " has no code package (" +
                                             built.error + "): deploy its code again")
          .field("function", cfg.id());
      continue;
    }
    cfg.package = built.digest_hex;
    if (auto err = store.put(key, encode(sys, cfg)); !err.empty())
      throw std::runtime_error("controller: registry write failed: " + err);
  }
}

/// The hosts' holdings as last recorded (their agents are known once they report again).
void load_holdings(controller_ptr self) {
  self->state.store->scan("ph/", [&](std::string_view key, std::string_view value) {
    auto rest = key.substr(3);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos)
      self->state.held[std::string{rest.substr(0, slash)}][std::string{rest.substr(slash + 1)}] =
          value == "1";
    return true;
  });
}

caf::error write_function(controller_ptr self, const function_config& cfg) {
  if (auto err = self->state.store->put(function_key(cfg.id()), encode(self->system(), cfg));
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return {};
}

/// The stored configuration of `id` if its revision is still `expected`.
caf::expected<function_config> read_revision(controller_ptr self, const std::string& id,
                                             const std::string& expected) {
  auto cfg = read_function(self, id);
  if (cfg && cfg->revision_id != expected)
    return make_error(errc::revision_mismatch,
                      "The Revision Id provided does not match the latest Revision Id. Call the "
                      "GetFunction/GetAlias API to retrieve the latest Revision Id");
  return cfg;
}

/// Stamps a changed configuration and writes it.
caf::result<function_config> write_revision(controller_ptr self, function_config cfg) {
  cfg.last_modified_ms = now_ms();
  cfg.revision_id = random_revision();
  if (auto err = write_function(self, cfg))
    return err;
  return cfg;
}

/// UpdateFunctionConfiguration: `next` replaces what the API may change.
caf::result<function_config> update(controller_ptr self, const function_config& next,
                                    const std::string& expected) {
  auto cfg = read_revision(self, next.id(), expected);
  if (!cfg)
    return std::move(cfg.error());
  cfg->runtime = next.runtime;
  cfg->handler = next.handler;
  cfg->description = next.description;
  cfg->memory_mb = next.memory_mb;
  cfg->timeout_s = next.timeout_s;
  cfg->environment = next.environment;
  return write_revision(self, std::move(*cfg));
}

/// UpdateFunctionCode: the new package is stored (and checked) before the
/// configuration points at it.
caf::result<function_config> update_code(controller_ptr self, const std::string& id,
                                         const std::string& archive, const std::string& expected) {
  auto cfg = read_revision(self, id, expected);
  if (!cfg)
    return std::move(cfg.error());
  if (auto err = store_code(self, *cfg, archive))
    return err;
  return write_revision(self, std::move(*cfg));
}

caf::result<access_key> lookup_key(controller_ptr self, const std::string& id) {
  auto bytes = self->state.store->get(access_key_key(id));
  if (!bytes)
    return make_error(errc::unknown_key, "The security token included in the request is invalid.");
  auto key = decode_access_key(self->system(), *bytes);
  if (!key)
    return make_error(errc::storage_failed, "the record of access key " + id + " is unreadable");
  return std::move(*key);
}

/// PutFunctionConcurrency (`reserved` >= 0) and DeleteFunctionConcurrency (-1).
caf::result<function_config> reserve(controller_ptr self, const std::string& id, int32_t reserved) {
  auto cfg = read_function(self, id);
  if (!cfg)
    return std::move(cfg.error());
  const auto& limits = self->state.cfg;
  if (reserved >= 0 && limits.tenant_instances > 0) {
    int64_t others = 0;
    for (const auto& f : list_all(self, cfg->tenant))
      if (f.name != cfg->name && f.reserved_concurrency > 0)
        others += f.reserved_concurrency;
    if (others + reserved > limits.tenant_instances - limits.unreserved_min)
      return make_error(errc::invalid_parameter,
                        "Specified ReservedConcurrentExecutions for function decreases the "
                        "tenant's UnreservedConcurrentExecution below its minimum value of [" +
                            std::to_string(limits.unreserved_min) + "]");
  }
  cfg->reserved_concurrency = reserved;
  if (auto err = write_function(self, *cfg))
    return err;
  tell_reservation(self, *cfg, reserved);
  return std::move(*cfg);
}

/// Put-, Update- (`merge`: -1 keeps a setting) and DeleteFunctionEventInvokeConfig.
caf::result<function_config> configure_async(controller_ptr self, const std::string& id,
                                             int32_t max_retries, int32_t max_age_s, bool merge) {
  auto cfg = read_function(self, id);
  if (!cfg)
    return std::move(cfg.error());
  if (!merge || max_retries >= 0)
    cfg->async_max_retries = max_retries;
  if (!merge || max_age_s >= 0)
    cfg->async_max_age_s = max_age_s;
  if (auto err = write_function(self, *cfg))
    return err;
  return std::move(*cfg);
}

caf::result<access_key> put_key(controller_ptr self, access_key key) {
  if (self->state.store->get(access_key_key(key.id)))
    return make_error(errc::function_exists, "access key " + key.id + " exists");
  key.created_ms = now_ms();
  if (auto err = self->state.store->put(access_key_key(key.id), encode(self->system(), key));
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return key;
}

caf::result<access_key> remove_key(controller_ptr self, const std::string& id) {
  auto bytes = self->state.store->get(access_key_key(id));
  auto key = bytes ? decode_access_key(self->system(), *bytes) : std::nullopt;
  if (!key)
    return make_error(errc::function_not_found, "no access key " + id);
  if (auto err = self->state.store->erase(access_key_key(id)); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  key->secret.clear();
  return std::move(*key);
}

/// Every access key, by id, without its secret.
std::vector<access_key> list_keys(controller_ptr self) {
  std::vector<access_key> out;
  self->state.store->scan(access_key_key(""), [&](std::string_view, std::string_view value) {
    if (auto key = decode_access_key(self->system(), value)) {
      key->secret.clear();
      out.push_back(std::move(*key));
    }
    return true;
  });
  return out;
}

/// Start-up: functions stored before ids had a tenant ("fn/<name>") move to
/// "fn/<tenant>/<name>", and the bootstrap keys are written. Throws when the
/// store cannot be written, so the node does not start half-configured.
void prepare_store(caf::actor_system& sys, storage::kv_store& store,
                   const controller_settings& settings) {
  auto check = [](const std::string& err) {
    if (!err.empty())
      throw std::runtime_error("controller: registry write failed: " + err);
  };
  std::vector<std::pair<std::string, function_config>> moves;
  auto prefix = function_key("");
  store.scan(prefix, [&](std::string_view key, std::string_view value) {
    if (key.find('/', prefix.size()) != std::string_view::npos)
      return true; // already fn/<tenant>/<name>: no need to decode it
    if (auto cfg = decode_function(sys, value); cfg && key != function_key(cfg->id()))
      moves.emplace_back(std::string{key}, std::move(*cfg));
    return true;
  });
  for (auto& [old_key, cfg] : moves) {
    check(store.put(function_key(cfg.id()), encode(sys, cfg)));
    check(store.erase(old_key));
  }
  for (auto key : settings.bootstrap_keys) {
    if (key.created_ms == 0)
      key.created_ms = now_ms();
    check(store.put(access_key_key(key.id), encode(sys, key)));
  }
}

controller_actor::behavior_type controller(controller_ptr self, storage::kv_store* store,
                                           storage::package_store* packages,
                                           controller_settings cfg, scheduler_actor scheduler) {
  self->state.store = store;
  self->state.packages = packages;
  self->state.cfg = cfg;
  load_holdings(self);
  self->state.scheduler = std::move(scheduler);
  self->state.started_ms = now_ms();
  for (const auto& f : list_all(self))
    if (f.reserved_concurrency >= 0)
      tell_reservation(self, f, f.reserved_concurrency);
  // A gateway that goes (with its node or its connection) leaves the list
  // hosts spread connections over; it registers again when it comes back.
  self->set_down_handler([=](caf::down_msg& down) {
    auto& gws = self->state.gateways;
    for (auto it = gws.begin(); it != gws.end(); ++it)
      if (it->second.gateway.address() == down.source) {
        net::log::warn("gateway_down", "gateway " + it->first + " is gone")
            .field("gateway", it->first);
        gws.erase(it);
        return;
      }
  });
  return {
      [=](create_atom, function_config cfg, const std::string& archive) {
        return create(self, std::move(cfg), archive);
      },
      [=](lookup_atom, const std::string& id) { return lookup(self, id); },
      [=](list_atom, const std::string& tenant) { return list_all(self, tenant); },
      [=](update_atom, const function_config& next, const std::string& expected) {
        return update(self, next, expected);
      },
      [=](code_atom, const std::string& id, const std::string& archive,
          const std::string& expected) { return update_code(self, id, archive, expected); },
      [=](key_atom, const std::string& id) { return lookup_key(self, id); },
      [=](key_put_atom, access_key& key) { return put_key(self, std::move(key)); },
      [=](key_del_atom, const std::string& id) { return remove_key(self, id); },
      [=](keys_atom) { return list_keys(self); },
      [=](publish_atom, const std::string& id, const std::string& code_sha256,
          const std::string& description, const std::string& revision) {
        return publish(self, id, code_sha256, description, revision);
      },
      [=](versions_atom, const std::string& id) { return versions(self, id); },
      [=](alias_atom, const std::string& id, alias_config& next, bool create) {
        return put_alias(self, id, std::move(next), create);
      },
      [=](alias_atom, const std::string& id, const std::string& alias) {
        return get_alias(self, id, alias);
      },
      [=](remove_atom, const std::string& id, const std::string& alias) {
        return remove_alias(self, id, alias);
      },
      [=](aliases_atom, const std::string& id) { return aliases(self, id); },
      [=](url_put_atom, url_config& next, bool create) {
        return put_url(self, std::move(next), create);
      },
      [=](url_get_atom, const std::string& id, const std::string& qualifier) {
        return get_url(self, id, qualifier);
      },
      [=](url_get_atom, const std::string& id) { return list_urls(self, id); },
      [=](url_del_atom, const std::string& id, const std::string& qualifier) {
        return remove_url(self, id, qualifier);
      },
      [=](url_find_atom, const std::string& url_id) { return find_url(self, url_id); },
      [=](remove_atom, const std::string& id) { return remove(self, id); },
      [=](pkg_sources_atom, const std::string& package, const std::string& host) {
        return sources(self, package, host);
      },
      [=](pkg_held_atom, const std::string& host, package_actor agent,
          const std::vector<std::string>& whole, const std::vector<std::string>& part) {
        holdings(self, host, std::move(agent), whole, part);
      },
      [=](reserve_atom, const std::string& id, int32_t reserved) {
        return reserve(self, id, reserved);
      },
      [=](async_cfg_atom, const std::string& id, int32_t max_retries, int32_t max_age_s,
          bool merge) { return configure_async(self, id, max_retries, max_age_s, merge); },
      [=](node_atom, const std::string& name, bool up) {
        auto& n = self->state.nodes[name];
        n.name = name;
        n.state = up ? "up" : "down";
        n.since_ms = now_ms();
        n.joins += up ? 1 : 0;
      },
      [=](egress_atom, const std::string& tenant) { return get_egress(self, tenant); },
      [=](egress_atom) { return list_egress(self); },
      [=](egress_put_atom, egress_config& next) { return set_egress(self, std::move(next)); },
      [=](gateway_up_atom, gateway_entry& g) { return gateway_up(self, std::move(g)); },
      [=](gateways_atom) {
        std::vector<gateway_entry> out;
        for (const auto& [_, g] : self->state.gateways)
          out.push_back(g);
        return out;
      },
      [=](nodes_atom) {
        std::vector<node_status> out{{"controller", "up", self->state.started_ms, 1}};
        for (const auto& [_, n] : self->state.nodes)
          out.push_back(n);
        return out;
      },
  };
}

} // namespace controller_detail

controller_actor spawn_controller(caf::actor_system& sys, storage::kv_store& store,
                                  storage::package_store& packages, controller_settings settings,
                                  scheduler_actor scheduler) {
  controller_detail::prepare_store(sys, store, settings);
  controller_detail::build_legacy_packages(sys, store, packages, settings);
  return sys.spawn(controller_detail::controller, &store, &packages, std::move(settings),
                   std::move(scheduler));
}

} // namespace troupe
