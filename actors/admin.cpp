// The admin console's service: checks the admin token, then runs the request
// on this node's ingress, as an operator would over HTTP.
#include "actors/admin.hpp"

#include "net/json_writer.hpp"
#include "net/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>

namespace troupe {

namespace {

admin_reply error_reply(uint16_t status, const std::string& type, const std::string& message) {
  net::json_writer w;
  w.begin_object().field("Type", type).field("Message", message).end_object();
  return {status, w.take(), {{"X-Amzn-ErrorType", type}}};
}

admin_actor::behavior_type admin(admin_actor::pointer self, std::string token,
                                 ingress_actor ingress) {
  return {
      [=](admin_atom, admin_request& r) -> caf::result<admin_reply> {
        if (!same_token(r.token, token)) {
          net::log::warn("admin_token_refused", "admin request with a wrong token refused");
          return error_reply(401, "UnrecognizedClientException", "the admin token is not valid");
        }
        if (!ingress)
          return error_reply(503, "ServiceException",
                             "this node has no ingress role: the admin console needs one");
        auto rp = self->make_response_promise<admin_reply>();
        // Within the longest invocation (15 min) and its wait.
        self->request(ingress, std::chrono::minutes(16), admin_atom::value, std::move(r))
            .then([rp](admin_reply& out) mutable { rp.deliver(std::move(out)); },
                  [rp](caf::error& err) mutable {
                    rp.deliver(error_reply(503, "ServiceException",
                                           "the ingress did not answer: " + to_string(err)));
                  });
        return rp;
      },
  };
}

} // namespace

bool same_token(const std::string& given, const std::string& expected) {
  if (expected.empty())
    return false;
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ expected[i]);
  return diff == 0;
}

admin_actor spawn_admin(caf::actor_system& sys, std::string token, ingress_actor ingress) {
  return sys.spawn(admin, std::move(token), std::move(ingress));
}

} // namespace troupe
