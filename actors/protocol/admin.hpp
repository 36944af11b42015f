#pragma once

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace troupe {

using admin_atom = caf::atom_constant<caf::atom("admin")>;

/// One operation of the admin console: a request of Troupe's HTTP API (the
/// Lambda routes, as `tenant`, and the operator routes under /troupe/),
/// carried over CAF instead of HTTP, so a console needs the admin token
/// and the cluster's certificates, not an access key.
struct admin_request {
  std::string token;  ///< the cluster's admin token (admin.token-file)
  std::string tenant; ///< whose functions the Lambda routes act on
  std::string method; ///< GET, POST, PUT, DELETE
  std::string target; ///< path and optional ?query, as in HTTP
  std::string body;
  std::map<std::string, std::string> headers; ///< e.g. X-Amz-Log-Type
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, admin_request& x) {
  return f(caf::meta::type_name("admin_request"), x.token, x.tenant, x.method, x.target, x.body,
           x.headers);
}

/// The HTTP API's answer to an admin_request: the same status, JSON body
/// and headers an HTTP client would get.
struct admin_reply {
  uint16_t status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, admin_reply& x) {
  return f(caf::meta::type_name("admin_reply"), x.status, x.body, x.headers);
}

/// The admin console's service, published by the controller node at
/// admin.listen. Contract: a request without the admin token gets 401 and
/// reaches nothing; with it, the request runs as an operator of its tenant
/// on this node's ingress (503 when the node has none).
using admin_actor = caf::typed_actor<caf::replies_to<admin_atom, admin_request>::with<admin_reply>>;

} // namespace troupe
