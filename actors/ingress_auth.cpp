// The ingress's authentication: AWS Signature Version 4 on every request,
// with access keys looked up at the controller and cached for a while, so
// that a warm request costs one HMAC chain and no message.
#include "actors/ingress_state.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "net/sigv4.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>

namespace troupe::ingress_detail {

namespace {

/// Unknown keys are remembered briefly: long enough to absorb a client's
/// retries, short enough that a key created meanwhile soon works.
constexpr int64_t unknown_key_ms = 5'000;
/// Keys cached at most; beyond it the expired ones go (or, failing that, all).
constexpr size_t max_cached_keys = 10'000;

void refuse(const responder& respond, const net::api_error& e) {
  respond(net::error_response(e));
}

/// Checks `req`'s signature with `key` and goes on, or refuses.
void verify_with(ingress_ptr self, cached_key& key, const net::sigv4::claim& claim,
                 net::http_request& req, const responder& respond, const authenticated& then) {
  if (!key.known)
    return refuse(respond, {403, "UnrecognizedClientException",
                            "The security token included in the request is invalid."});
  auto now_s = now_ms() / 1000;
  if (auto err = net::sigv4::verify(req, claim, key.key.secret, self->state.scope.region, "lambda",
                                    now_s, &key.signing))
    return refuse(respond, *err);
  then(caller{key.key.tenant, key.key.operator_access}, req, respond);
}

cached_key& remember(ingress_ptr self, const std::string& id, cached_key entry) {
  auto& keys = self->state.keys;
  if (keys.size() >= max_cached_keys) {
    auto now = steady_ms();
    for (auto it = keys.begin(); it != keys.end();)
      it = it->second.expires_ms <= now ? keys.erase(it) : std::next(it);
    if (keys.size() >= max_cached_keys)
      keys.clear();
  }
  return keys[id] = std::move(entry);
}

/// The controller answered for key `id`: every request waiting on it goes on.
void key_found(ingress_ptr self, const std::string& id, caf::expected<access_key> found) {
  auto node = self->state.key_lookups.extract(id);
  if (!found && found.error() != errc::unknown_key) { // no answer: nothing to remember
    if (!node.empty())
      for (auto& w : node.mapped())
        reply_error(w.respond, found.error());
    return;
  }
  auto& key = found
                  ? remember(self, id,
                             {std::move(*found), true, steady_ms() + self->state.cfg.key_cache_ms})
                  : remember(self, id, {{}, false, steady_ms() + unknown_key_ms});
  if (!node.empty())
    for (auto& w : node.mapped())
      verify_with(self, key, w.claim, w.req, w.respond, w.then);
}

} // namespace

void authenticate(ingress_ptr self, net::http_request req, responder respond, authenticated then) {
  auto& st = self->state;
  if (st.cfg.anonymous)
    return then(caller{st.cfg.anonymous_tenant, true}, req, std::move(respond));
  net::sigv4::claim claim;
  if (auto err = net::sigv4::read_claim(req, claim))
    return refuse(respond, *err);
  if (auto it = st.keys.find(claim.scope.access_key_id);
      it != st.keys.end() && it->second.expires_ms > steady_ms())
    return verify_with(self, it->second, claim, req, respond, then);
  if (!control_plane_up(self, respond))
    return;
  auto id = claim.scope.access_key_id; // a copy: the claim moves on with the request
  auto [it, first] = st.key_lookups.try_emplace(id);
  it->second.push_back({std::move(claim), std::move(req), std::move(respond), std::move(then)});
  if (!first)
    return;
  self->request(st.controller, std::chrono::seconds(10), key_atom::value, id)
      .then([=](access_key& key) { key_found(self, id, std::move(key)); },
            [=](caf::error& err) { key_found(self, id, std::move(err)); });
}

} // namespace troupe::ingress_detail
