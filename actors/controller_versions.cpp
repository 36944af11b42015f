// The controller's published versions and aliases. A version is an immutable
// copy of $LATEST's code and settings under the next number; an alias names
// one version, or splits invocations between two by weight.
#include "actors/controller_state.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdlib>

namespace troupe::controller_detail {

namespace {

std::string qualified_name(const std::string& id, const std::string& qualifier) {
  return std::string{net::function_name_of(id)} + ":" + qualifier;
}

/// A version number as given ("1", "42"), or 0 when it is not one.
int32_t version_number(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return static_cast<int32_t>(std::strtol(text.c_str(), nullptr, 10));
}

/// Whether two configurations would run the same: Lambda publishes no new
/// version when nothing of that changed since the last one.
bool same_function(const function_config& a, const function_config& b) {
  return a.code_sha256 == b.code_sha256 && a.runtime == b.runtime && a.handler == b.handler &&
         a.memory_mb == b.memory_mb && a.timeout_s == b.timeout_s && a.environment == b.environment;
}

caf::error write(controller_ptr self, const std::vector<storage::kv_store::change>& changes) {
  if (auto err = self->state.store->write(changes); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return {};
}

/// Whether `version` is $LATEST or a published version of the function.
bool exists(controller_ptr self, const function_config& latest, const std::string& version) {
  return version == "$LATEST" || static_cast<bool>(read_version(self, latest, version));
}

caf::expected<alias_config> read_alias(controller_ptr self, const std::string& id,
                                       const std::string& alias) {
  auto bytes = self->state.store->get(alias_key(id, alias));
  if (!bytes)
    return make_error(errc::function_not_found, "Alias not found: " + qualified_name(id, alias));
  auto a = decode_alias(self->system(), *bytes);
  if (!a)
    return make_error(errc::storage_failed, "the record of alias " + alias + " is unreadable");
  return std::move(*a);
}

} // namespace

caf::expected<function_config> read_version(controller_ptr self, const function_config& latest,
                                            const std::string& number) {
  auto n = version_number(number);
  auto bytes = n > 0 ? self->state.store->get(version_key(latest.id(), n)) : std::nullopt;
  if (!bytes)
    return make_error(errc::function_not_found,
                      "Function not found: " + qualified_name(latest.id(), number));
  auto cfg = decode_function(self->system(), *bytes);
  if (!cfg)
    return make_error(errc::storage_failed, "the record of version " + number + " is unreadable");
  cfg->reserved_concurrency = latest.reserved_concurrency;
  cfg->async_max_retries = latest.async_max_retries;
  cfg->async_max_age_s = latest.async_max_age_s;
  return std::move(*cfg);
}

caf::result<function_config> publish(controller_ptr self, const std::string& id,
                                     const std::string& code_sha256, const std::string& description,
                                     const std::string& revision) {
  auto latest = read_function(self, id);
  if (!latest)
    return std::move(latest.error());
  if (!revision.empty() && revision != latest->revision_id)
    return make_error(errc::revision_mismatch, "The Revision Id provided does not match the "
                                               "latest Revision Id");
  if (!code_sha256.empty() && code_sha256 != latest->code_sha256)
    return make_error(errc::revision_mismatch, "CodeSha256 does not match the function's code: "
                                               "it was updated meanwhile");
  if (latest->last_version > 0)
    if (auto last = read_version(self, *latest, std::to_string(latest->last_version));
        last && same_function(*last, *latest))
      return std::move(*last);
  auto version = *latest;
  version.last_version = 0;
  version.version = std::to_string(latest->last_version + 1);
  if (!description.empty())
    version.description = description;
  version.last_modified_ms = now_ms();
  version.revision_id = random_revision();
  latest->last_version += 1;
  latest->revision_id = random_revision(); // publishing changes $LATEST's record too
  auto& sys = self->system();
  if (auto err = write(self, {{version_key(id, latest->last_version), encode(sys, version)},
                              {function_key(id), encode(sys, *latest)}}))
    return err;
  return version;
}

caf::result<std::vector<function_config>> versions(controller_ptr self, const std::string& id) {
  auto latest = read_function(self, id);
  if (!latest)
    return std::move(latest.error());
  std::vector<function_config> out{*latest};
  self->state.store->scan(versions_prefix(id), [&](std::string_view, std::string_view value) {
    if (auto cfg = decode_function(self->system(), value)) {
      cfg->reserved_concurrency = latest->reserved_concurrency;
      out.push_back(std::move(*cfg));
    }
    return true;
  });
  return out;
}

caf::result<function_config> remove_version(controller_ptr self, const std::string& id,
                                            const std::string& number) {
  auto latest = read_function(self, id);
  if (!latest)
    return std::move(latest.error());
  auto version = read_version(self, *latest, number);
  if (!version)
    return std::move(version.error());
  std::string used_by;
  self->state.store->scan(aliases_prefix(id), [&](std::string_view, std::string_view value) {
    auto a = decode_alias(self->system(), value);
    if (a && (a->function_version == number || a->additional_version == number))
      used_by = a->name;
    return used_by.empty();
  });
  if (!used_by.empty())
    return make_error(errc::function_exists, "Unable to delete version because the following "
                                             "aliases reference it: [" +
                                                 used_by + "]");
  if (auto err = self->state.store->erase(version_key(id, version_number(number))); !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return std::move(*version);
}

std::vector<std::string> version_and_alias_keys(controller_ptr self, const std::string& id) {
  auto keys = url_keys(self, id, "");
  for (const auto& prefix : {versions_prefix(id), aliases_prefix(id)})
    self->state.store->scan(prefix, [&](std::string_view key, std::string_view) {
      keys.emplace_back(key);
      return true;
    });
  return keys;
}

caf::result<alias_config> put_alias(controller_ptr self, const std::string& id, alias_config next,
                                    bool create) {
  auto latest = read_function(self, id);
  if (!latest)
    return std::move(latest.error());
  auto current = read_alias(self, id, next.name);
  if (create && current)
    return make_error(errc::function_exists,
                      "Alias already exists: " + qualified_name(id, next.name));
  if (!create) {
    if (!current)
      return std::move(current.error());
    if (!next.revision_id.empty() && next.revision_id != current->revision_id)
      return make_error(errc::revision_mismatch, "The Revision Id provided does not match the "
                                                 "latest Revision Id");
    // UpdateAlias changes what it names; what it leaves out stays.
    if (next.function_version.empty())
      next.function_version = current->function_version;
  }
  if (next.function_version.empty())
    return make_error(errc::invalid_parameter, "FunctionVersion is required");
  for (const auto& v : {next.function_version, next.additional_version})
    if (!v.empty() && !exists(self, *latest, v))
      return make_error(errc::function_not_found, "Function not found: " + qualified_name(id, v));
  if (!next.additional_version.empty() &&
      (next.function_version == "$LATEST" || next.additional_version == "$LATEST"))
    return make_error(errc::invalid_parameter,
                      "$LATEST is not supported for an alias pointing to more than 1 version");
  if (next.additional_version == next.function_version && !next.additional_version.empty())
    return make_error(errc::invalid_parameter,
                      "the additional version must differ from FunctionVersion");
  next.revision_id = random_revision();
  if (auto err = self->state.store->put(alias_key(id, next.name), encode(self->system(), next));
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return next;
}

caf::result<alias_config> get_alias(controller_ptr self, const std::string& id,
                                    const std::string& alias) {
  if (auto latest = read_function(self, id); !latest)
    return std::move(latest.error());
  auto a = read_alias(self, id, alias);
  if (!a)
    return std::move(a.error());
  return std::move(*a);
}

caf::result<alias_config> remove_alias(controller_ptr self, const std::string& id,
                                       const std::string& alias) {
  auto a = read_alias(self, id, alias);
  if (!a)
    return std::move(a.error());
  std::vector<storage::kv_store::change> changes{{alias_key(id, alias), std::nullopt}};
  for (auto& key : url_keys(self, id, alias)) // its URL goes with it
    changes.push_back({std::move(key), std::nullopt});
  if (auto err = write(self, changes))
    return err;
  return std::move(*a);
}

caf::result<std::vector<alias_config>> aliases(controller_ptr self, const std::string& id) {
  if (auto latest = read_function(self, id); !latest)
    return std::move(latest.error());
  std::vector<alias_config> out;
  self->state.store->scan(aliases_prefix(id), [&](std::string_view, std::string_view value) {
    if (auto a = decode_alias(self->system(), value))
      out.push_back(std::move(*a));
    return true;
  });
  return out;
}

} // namespace troupe::controller_detail
