#include "actors/controller.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "storage/code_store.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <random>

namespace troupe {

namespace {

struct controller_state {
  storage::kv_store* store = nullptr;
  storage::code_store* code = nullptr;
  controller_settings cfg;
  scheduler_actor scheduler;
  static inline const char* name = "troupe.controller";
};

using controller_ptr = controller_actor::stateful_pointer<controller_state>;

std::string random_revision() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx-%08llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng() & 0xffffffff));
  return buf;
}

caf::result<function_config> create(controller_ptr self, function_config cfg,
                                    const std::string& archive) {
  auto& st = self->state;
  auto key = function_key(cfg.name);
  if (st.store->get(key))
    return make_error(errc::function_exists, "Function already exist: " + cfg.name);
  auto pkg = st.code->put(archive);
  if (!pkg)
    return make_error(errc::invalid_parameter, "Could not unzip uploaded file: " + pkg.error);
  cfg.code_sha256 = pkg.digest_hex;
  cfg.code_size = static_cast<int64_t>(pkg.archive_bytes);
  cfg.last_modified_ms = now_ms();
  cfg.revision_id = random_revision();
  if (auto err = st.store->put(key, encode(self->system(), cfg)); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return cfg;
}

caf::expected<function_config> read_function(controller_ptr self, const std::string& name) {
  auto bytes = self->state.store->get(function_key(name));
  if (!bytes)
    return make_error(errc::function_not_found, "Function not found: " + name);
  auto cfg = decode_function(self->system(), *bytes);
  if (!cfg)
    return make_error(errc::storage_failed, "registry record of " + name + " is unreadable");
  return std::move(*cfg);
}

caf::result<function_config> lookup(controller_ptr self, const std::string& name) {
  auto cfg = read_function(self, name);
  if (!cfg)
    return std::move(cfg.error());
  return std::move(*cfg);
}

std::vector<function_config> list_all(controller_ptr self) {
  std::vector<function_config> out;
  self->state.store->scan("fn/", [&](std::string_view, std::string_view value) {
    if (auto cfg = decode_function(self->system(), value))
      out.push_back(std::move(*cfg));
    return true;
  });
  return out;
}

/// Tells the scheduler a function's reservation (-1: none).
void tell_reservation(controller_ptr self, const function_config& cfg, int32_t reserved) {
  if (self->state.scheduler)
    self->send(self->state.scheduler, reserve_atom::value, cfg.tenant, cfg.name, reserved);
}

caf::result<function_config> remove(controller_ptr self, const std::string& name) {
  auto cfg = read_function(self, name);
  if (!cfg)
    return std::move(cfg.error());
  if (auto err = self->state.store->erase(function_key(name)); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  if (cfg->reserved_concurrency >= 0)
    tell_reservation(self, *cfg, -1);
  // The package stays: another function may share it (packages are collected later).
  return std::move(*cfg);
}

/// A package's archive for a host that lacks it (read whole: archives are
/// bounded by code.max-archive-mb).
caf::result<std::string> fetch(controller_ptr self, const std::string& sha256_hex) {
  auto archive = self->state.code->archive(sha256_hex);
  if (!archive)
    return make_error(errc::function_not_found, "no code package " + sha256_hex);
  return std::move(*archive);
}

caf::error write_function(controller_ptr self, const function_config& cfg) {
  if (auto err = self->state.store->put(function_key(cfg.name), encode(self->system(), cfg));
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return {};
}

/// PutFunctionConcurrency (`reserved` >= 0) and DeleteFunctionConcurrency (-1).
caf::result<function_config> reserve(controller_ptr self, const std::string& name,
                                     int32_t reserved) {
  auto cfg = read_function(self, name);
  if (!cfg)
    return std::move(cfg.error());
  const auto& limits = self->state.cfg;
  if (reserved >= 0 && limits.tenant_instances > 0) {
    int64_t others = 0;
    for (const auto& f : list_all(self))
      if (f.tenant == cfg->tenant && f.name != name && f.reserved_concurrency > 0)
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
caf::result<function_config> configure_async(controller_ptr self, const std::string& name,
                                             int32_t max_retries, int32_t max_age_s, bool merge) {
  auto cfg = read_function(self, name);
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

controller_actor::behavior_type controller(controller_ptr self, storage::kv_store* store,
                                           storage::code_store* code, controller_settings cfg,
                                           scheduler_actor scheduler) {
  self->state.store = store;
  self->state.code = code;
  self->state.cfg = cfg;
  self->state.scheduler = std::move(scheduler);
  for (const auto& f : list_all(self))
    if (f.reserved_concurrency >= 0)
      tell_reservation(self, f, f.reserved_concurrency);
  return {
      [=](create_atom, function_config cfg, const std::string& archive) {
        return create(self, std::move(cfg), archive);
      },
      [=](lookup_atom, const std::string& name) { return lookup(self, name); },
      [=](list_atom) { return list_all(self); },
      [=](remove_atom, const std::string& name) { return remove(self, name); },
      [=](fetch_atom, const std::string& sha256_hex) { return fetch(self, sha256_hex); },
      [=](reserve_atom, const std::string& name, int32_t reserved) {
        return reserve(self, name, reserved);
      },
      [=](async_cfg_atom, const std::string& name, int32_t max_retries, int32_t max_age_s,
          bool merge) { return configure_async(self, name, max_retries, max_age_s, merge); },
  };
}

} // namespace

controller_actor spawn_controller(caf::actor_system& sys, storage::kv_store& store,
                                  storage::code_store& code, controller_settings settings,
                                  scheduler_actor scheduler) {
  return sys.spawn(controller, &store, &code, settings, std::move(scheduler));
}

} // namespace troupe
