// The controller's function URLs: one per function and qualifier ($LATEST or
// an alias), found by its random url id when a request arrives at /fn/{url id}.
#include "actors/controller_state.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <random>

namespace troupe::controller_detail {

namespace {

std::string new_url_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id(32, 'a');
  for (auto& c : id)
    c = alphabet[rng() % (sizeof alphabet - 1)];
  return id;
}

caf::error not_found(const std::string& id, const std::string& qualifier) {
  return make_error(errc::function_not_found,
                    "The resource you requested does not exist: no function URL for " +
                        std::string{net::function_name_of(id)} +
                        (qualifier.empty() ? "" : ":" + qualifier));
}

caf::expected<url_config> read_url(controller_ptr self, const std::string& url_id) {
  auto bytes = self->state.store->get(url_key(url_id));
  auto url = bytes ? decode_url(self->system(), *bytes) : std::nullopt;
  if (!url)
    return make_error(errc::function_not_found, "no function URL " + url_id);
  return std::move(*url);
}

/// The URL of a function's qualifier, or function_not_found.
caf::expected<url_config> read_url_of(controller_ptr self, const std::string& id,
                                      const std::string& qualifier) {
  auto url_id = self->state.store->get(url_index_key(id, qualifier));
  if (!url_id)
    return not_found(id, qualifier);
  return read_url(self, *url_id);
}

} // namespace

caf::result<url_config> put_url(controller_ptr self, url_config next, bool create) {
  auto id = net::function_id(next.tenant, next.function);
  auto latest = read_function(self, id);
  if (!latest)
    return std::move(latest.error());
  if (next.qualifier == "$LATEST")
    next.qualifier.clear();
  if (!next.qualifier.empty() &&
      !self->state.store->get(alias_key(id, next.qualifier))) // only $LATEST or an alias
    return make_error(errc::function_not_found,
                      "Alias not found: " + next.function + ":" + next.qualifier);
  auto current = read_url_of(self, id, next.qualifier);
  if (create && current)
    return make_error(errc::function_exists, "FunctionUrlConfig exists for this Lambda function");
  if (!create && !current)
    return std::move(current.error());
  auto url = create ? next : *current;
  if (create) {
    url.url_id = new_url_id();
    url.created_ms = now_ms();
  } else {
    if (!next.auth_type.empty())
      url.auth_type = next.auth_type;
    if (!next.cors.empty())
      url.cors = next.cors;
  }
  url.modified_ms = now_ms();
  auto& sys = self->system();
  if (auto err = self->state.store->write({{url_key(url.url_id), encode(sys, url)},
                                           {url_index_key(id, url.qualifier), url.url_id}});
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return url;
}

caf::result<url_config> get_url(controller_ptr self, const std::string& id,
                                const std::string& qualifier) {
  auto url = read_url_of(self, id, qualifier == "$LATEST" ? "" : qualifier);
  if (!url)
    return std::move(url.error());
  return std::move(*url);
}

caf::result<std::vector<url_config>> list_urls(controller_ptr self, const std::string& id) {
  if (auto latest = read_function(self, id); !latest)
    return std::move(latest.error());
  std::vector<url_config> out;
  self->state.store->scan(url_index_prefix(id), [&](std::string_view, std::string_view url_id) {
    if (auto url = read_url(self, std::string{url_id}))
      out.push_back(std::move(*url));
    return true;
  });
  return out;
}

caf::result<url_config> remove_url(controller_ptr self, const std::string& id,
                                   const std::string& qualifier) {
  auto url = read_url_of(self, id, qualifier == "$LATEST" ? "" : qualifier);
  if (!url)
    return std::move(url.error());
  if (auto err = self->state.store->write({{url_key(url->url_id), std::nullopt},
                                           {url_index_key(id, url->qualifier), std::nullopt}});
      !err.empty())
    return make_error(errc::storage_failed, "registry write failed: " + err);
  return std::move(*url);
}

caf::result<url_config> find_url(controller_ptr self, const std::string& url_id) {
  auto url = read_url(self, url_id);
  if (!url)
    return std::move(url.error());
  return std::move(*url);
}

std::vector<std::string> url_keys(controller_ptr self, const std::string& id,
                                  const std::string& qualifier) {
  std::vector<std::string> keys;
  auto add = [&](std::string_view index_key, std::string_view url_id) {
    keys.emplace_back(index_key);
    keys.push_back(url_key(url_id));
  };
  if (!qualifier.empty()) {
    if (auto url_id = self->state.store->get(url_index_key(id, qualifier)))
      add(url_index_key(id, qualifier), *url_id);
    return keys;
  }
  self->state.store->scan(url_index_prefix(id), [&](std::string_view key, std::string_view value) {
    add(key, value);
    return true;
  });
  return keys;
}

} // namespace troupe::controller_detail
