#include "runtime/runtime_api.hpp"

#include "net/http_server.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"

#include <mutex>
#include <optional>
#include <string_view>

namespace troupe::runtime {

namespace {

constexpr std::string_view prefix = "/2018-06-01/runtime/";

using net::json_response;

net::http_response error_reply(int status, std::string_view type, std::string_view message) {
  net::json_writer w;
  w.begin_object().field("errorType", type).field("errorMessage", message).end_object();
  return json_response(status, w.take());
}

net::http_response event_reply(const runtime_event& ev) {
  auto r = json_response(200, ev.payload);
  r.set("Lambda-Runtime-Aws-Request-Id", ev.request_id);
  r.set("Lambda-Runtime-Deadline-Ms", std::to_string(ev.deadline_ms));
  r.set("Lambda-Runtime-Invoked-Function-Arn", ev.function_arn);
  r.set("Lambda-Runtime-Trace-Id", ev.trace_id);
  return r;
}

/// The error type a runtime reports: its header if set, else a generic one.
std::string error_type_of(const net::http_request& req, std::string_view fallback) {
  auto h = req.header("Lambda-Runtime-Function-Error-Type");
  return h.empty() ? std::string{fallback} : std::string{h};
}

} // namespace

struct runtime_api::impl {
  runtime_api_callbacks callbacks;
  std::size_t max_response_bytes;
  std::mutex mtx;
  std::optional<runtime_event> queued;        ///< delivered, not yet fetched by /next
  std::optional<net::http_responder> waiting; ///< a /next call with no event yet
  std::string outstanding_id;                 ///< fetched, not yet answered
  std::unique_ptr<net::http_server> server;

  void handle(net::http_request req, net::http_responder respond);
  void on_next(net::http_responder respond);
  void on_invocation(std::string_view rest, net::http_request& req, net::http_responder& respond);
  bool take_outstanding(std::string_view id);
};

void runtime_api::impl::on_next(net::http_responder respond) {
  std::unique_lock guard{mtx};
  if (waiting) {
    guard.unlock();
    respond(error_reply(400, "InvalidRequest", "another /next call is already waiting"));
    return;
  }
  if (queued) {
    auto ev = std::move(*queued);
    queued.reset();
    outstanding_id = ev.request_id;
    guard.unlock();
    respond(event_reply(ev));
  } else {
    waiting = std::move(respond);
  }
}

bool runtime_api::impl::take_outstanding(std::string_view id) {
  std::lock_guard guard{mtx};
  if (outstanding_id.empty() || outstanding_id != id)
    return false;
  outstanding_id.clear();
  return true;
}

void runtime_api::impl::on_invocation(std::string_view rest, net::http_request& req,
                                      net::http_responder& respond) {
  // rest = "{id}/response" or "{id}/error"
  auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || req.method != "POST")
    return respond(error_reply(404, "InvalidRequest", "unknown runtime API path"));
  auto id = rest.substr(0, slash);
  auto what = rest.substr(slash + 1);
  if (what != "response" && what != "error")
    return respond(error_reply(404, "InvalidRequest", "unknown runtime API path"));
  if (!take_outstanding(id))
    return respond(error_reply(400, "InvalidRequestID", "no outstanding invocation with this id"));
  if (what == "response" && req.body.size() > max_response_bytes) {
    respond(error_reply(413, "RequestEntityTooLarge", "response payload exceeds the limit"));
    callbacks.on_error(std::string{id}, "Function.ResponseSizeTooLarge",
                       "{\"errorType\":\"Function.ResponseSizeTooLarge\",\"errorMessage\":"
                       "\"Response payload size exceeded maximum allowed payload size.\"}");
    return;
  }
  respond(json_response(202, "{\"status\":\"OK\"}"));
  if (what == "response")
    callbacks.on_response(std::string{id}, std::move(req.body));
  else
    callbacks.on_error(std::string{id}, error_type_of(req, "Unhandled"), std::move(req.body));
}

void runtime_api::impl::handle(net::http_request req, net::http_responder respond) {
  auto path = req.path();
  if (path.substr(0, prefix.size()) != prefix)
    return respond(error_reply(404, "InvalidRequest", "unknown runtime API path"));
  auto rest = path.substr(prefix.size());
  if (rest == "invocation/next" && req.method == "GET")
    return on_next(std::move(respond));
  if (rest == "init/error" && req.method == "POST") {
    respond(json_response(202, "{\"status\":\"OK\"}"));
    return callbacks.on_init_error(error_type_of(req, "Runtime.InitError"), std::move(req.body));
  }
  constexpr std::string_view inv = "invocation/";
  if (rest.substr(0, inv.size()) == inv)
    return on_invocation(rest.substr(inv.size()), req, respond);
  respond(error_reply(404, "InvalidRequest", "unknown runtime API path"));
}

runtime_api::runtime_api(net::io_runtime& io, int listening_fd, runtime_api_callbacks callbacks,
                         std::size_t max_response_bytes)
    : impl_(std::make_shared<impl>()) {
  impl_->callbacks = std::move(callbacks);
  impl_->max_response_bytes = max_response_bytes;
  net::http_limits limits;
  limits.max_body_bytes = max_response_bytes + 64 * 1024; // room to answer 413 ourselves
  limits.idle_timeout = std::chrono::hours(24);           // the runtime idles between events
  std::weak_ptr<impl> weak = impl_;
  impl_->server = std::make_unique<net::http_server>(
      io, limits, [weak](net::http_request req, net::http_responder respond) {
        if (auto self = weak.lock())
          self->handle(std::move(req), std::move(respond));
      });
  if (auto err = impl_->server->adopt(listening_fd); !err.empty())
    throw std::runtime_error("runtime API: " + err);
}

runtime_api::~runtime_api() {
  stop();
}

bool runtime_api::deliver(runtime_event ev) {
  std::unique_lock guard{impl_->mtx};
  if (impl_->queued || !impl_->outstanding_id.empty())
    return false;
  if (impl_->waiting) {
    auto respond = std::move(*impl_->waiting);
    impl_->waiting.reset();
    impl_->outstanding_id = ev.request_id;
    guard.unlock();
    respond(event_reply(ev));
  } else {
    impl_->queued = std::move(ev);
  }
  return true;
}

void runtime_api::stop() {
  if (impl_->server)
    impl_->server->stop();
}

} // namespace troupe::runtime
