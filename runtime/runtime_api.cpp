#include "runtime/runtime_api.hpp"

#include "net/http_server.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string_view>

namespace troupe::runtime {

namespace {

constexpr std::string_view prefix = "/2018-06-01/runtime/";

using net::json_response;

net::http_response error_reply(int status, std::string_view type, std::string_view message) {
  net::json_writer w;
  w.begin_object().field("errorMessage", message).field("errorType", type).end_object();
  return json_response(status, w.take());
}

net::http_response accepted() {
  return json_response(202, "{\"status\":\"OK\"}");
}

net::http_response not_found() {
  return error_reply(404, "InvalidRequest", "unknown runtime API path");
}

net::http_response method_not_allowed(std::string_view allow) {
  auto r = error_reply(405, "MethodNotAllowed", std::string{"use "} + std::string{allow});
  r.set("Allow", std::string{allow});
  return r;
}

net::http_response invalid_request_id() {
  return error_reply(400, "InvalidRequestID", "Invalid request ID");
}

/// Lambda's refusal of a call that its runtime state machine does not allow.
net::http_response invalid_state(std::string_view from, std::string_view to) {
  return error_reply(403, "InvalidStateTransition",
                     "State transition from " + std::string{from} + " to " + std::string{to} +
                         " failed for runtime. Error: State transition is not allowed");
}

net::http_response too_large(std::size_t limit) {
  return error_reply(413, "RequestEntityTooLarge",
                     "Exceeded maximum allowed payload size (" + std::to_string(limit) +
                         " bytes).");
}

/// What the invocation answers when the runtime's response was too large.
std::string response_too_large_doc(std::size_t limit) {
  net::json_writer w;
  w.begin_object()
      .field("errorMessage", "Response payload size exceeded maximum allowed payload size (" +
                                 std::to_string(limit) + " bytes).")
      .field("errorType", "Function.ResponseSizeTooLarge")
      .end_object();
  return w.take();
}

net::http_response event_reply(const runtime_event& ev) {
  auto r = json_response(200, ev.payload);
  r.set("Lambda-Runtime-Aws-Request-Id", ev.request_id);
  r.set("Lambda-Runtime-Deadline-Ms", std::to_string(ev.deadline_ms));
  r.set("Lambda-Runtime-Invoked-Function-Arn", ev.function_arn);
  r.set("Lambda-Runtime-Trace-Id", ev.trace_id);
  if (!ev.client_context.empty())
    r.set("Lambda-Runtime-Client-Context", ev.client_context);
  if (!ev.cognito_identity.empty())
    r.set("Lambda-Runtime-Cognito-Identity", ev.cognito_identity);
  return r;
}

/// The error type a runtime reports: its header if set, else a generic one.
std::string error_type_of(const net::http_request& req, std::string_view fallback) {
  auto h = req.header("Lambda-Runtime-Function-Error-Type");
  return h.empty() ? std::string{fallback} : std::string{h};
}

} // namespace

std::string xray_trace_id(std::string_view request_id, int64_t now_ms) {
  std::string hex;
  for (char c : request_id)
    if (std::isxdigit(static_cast<unsigned char>(c)))
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  hex.resize(32, '0'); // the root's id: the first 24; the parent's: the last 16
  char secs[16];
  std::snprintf(secs, sizeof secs, "%08llx",
                static_cast<unsigned long long>(now_ms / 1000) & 0xffffffffULL);
  return "Root=1-" + std::string{secs} + "-" + hex.substr(0, 24) + ";Parent=" + hex.substr(16, 16) +
         ";Sampled=0";
}

std::string trace_id_for(std::string_view caller_header, std::string_view request_id,
                         int64_t now_ms) {
  auto allowed = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '=' || c == ';' || c == '-' ||
           c == ':' || c == '.' || c == '_';
  };
  bool usable = !caller_header.empty() && caller_header.size() <= 256 &&
                caller_header.find("Root=1-") != std::string_view::npos &&
                std::all_of(caller_header.begin(), caller_header.end(), allowed);
  return usable ? std::string{caller_header} : xray_trace_id(request_id, now_ms);
}

/// The endpoint's state, shared with the server's handler (on io threads)
/// and deliver() (on the instance's thread):
///
///   init --/next--> waiting <--deliver--> outstanding --response|error--> answered
///     (init/error only before the first /next)        (answered --/next--> ...)
struct runtime_api::impl {
  runtime_api_callbacks callbacks;
  std::size_t max_response_bytes;
  std::mutex mtx;
  std::optional<runtime_event> queued;        ///< delivered, not yet fetched by /next
  std::optional<net::http_responder> waiting; ///< a /next call with no event yet
  std::string outstanding_id;                 ///< fetched, not yet answered
  std::string answered_id;                    ///< the last one answered
  bool asked = false;                         ///< /next was called: init is over
  runtime_times times;
  std::unique_ptr<net::http_server> server;

  void handle(net::http_request req, net::http_responder respond);
  void on_next(net::http_responder respond);
  void on_init_error(net::http_request& req, const net::http_responder& respond);
  void on_invocation(std::string_view rest, net::http_request& req,
                     const net::http_responder& respond);
  /// Takes `id` as answered; else the refusal to send.
  std::optional<net::http_response> take_outstanding(std::string_view id, std::string_view what);
};

void runtime_api::impl::on_next(net::http_responder respond) {
  std::unique_lock guard{mtx};
  auto now = std::chrono::steady_clock::now();
  if (!asked)
    times.ready = now;
  asked = true;
  // A runtime that asks again (say, after its connection broke) is the one
  // that waits now; the earlier call, if still there, is told so.
  auto superseded = std::move(waiting);
  waiting.reset();
  if (queued) {
    auto ev = std::move(*queued);
    queued.reset();
    outstanding_id = ev.request_id;
    times.fetched = now;
    guard.unlock();
    respond(event_reply(ev));
  } else {
    waiting = std::move(respond);
    guard.unlock();
  }
  if (superseded)
    (*superseded)(error_reply(400, "InvalidRequest", "superseded by a later /next call"));
}

std::optional<net::http_response> runtime_api::impl::take_outstanding(std::string_view id,
                                                                      std::string_view what) {
  std::lock_guard guard{mtx};
  if (!outstanding_id.empty() && outstanding_id == id) {
    times.answered = std::chrono::steady_clock::now();
    answered_id = std::move(outstanding_id);
    outstanding_id.clear();
    return std::nullopt;
  }
  if (outstanding_id.empty() && !id.empty() && id == answered_id)
    return invalid_state("InvocationResponse",
                         what == "response" ? "InvocationResponse" : "InvocationErrorResponse");
  return invalid_request_id();
}

void runtime_api::impl::on_init_error(net::http_request& req, const net::http_responder& respond) {
  {
    std::lock_guard guard{mtx};
    if (asked)
      return respond(invalid_state("Ready", "InitError"));
  }
  auto type = error_type_of(req, "Runtime.InitError");
  if (req.body_too_large) {
    respond(too_large(max_response_bytes));
    return callbacks.on_init_error(std::move(type), {});
  }
  respond(accepted());
  callbacks.on_init_error(std::move(type), std::move(req.body));
}

void runtime_api::impl::on_invocation(std::string_view rest, net::http_request& req,
                                      const net::http_responder& respond) {
  // rest = "{id}/response" or "{id}/error"
  auto slash = rest.rfind('/');
  if (slash == std::string_view::npos)
    return respond(not_found());
  auto id = rest.substr(0, slash);
  auto what = rest.substr(slash + 1);
  if ((what != "response" && what != "error") || id.find('/') != std::string_view::npos)
    return respond(not_found());
  if (req.method != "POST")
    return respond(method_not_allowed("POST"));
  if (auto refusal = take_outstanding(id, what))
    return respond(std::move(*refusal));
  if (req.body_too_large || (what == "response" && req.body.size() > max_response_bytes)) {
    respond(too_large(max_response_bytes));
    return callbacks.on_error(std::string{id}, "Function.ResponseSizeTooLarge",
                              response_too_large_doc(max_response_bytes));
  }
  respond(accepted());
  if (what == "response")
    callbacks.on_response(std::string{id}, std::move(req.body));
  else
    callbacks.on_error(std::string{id}, error_type_of(req, "Unhandled"), std::move(req.body));
}

void runtime_api::impl::handle(net::http_request req, net::http_responder respond) {
  auto path = req.path();
  if (path.substr(0, prefix.size()) != prefix)
    return respond(not_found());
  auto rest = path.substr(prefix.size());
  if (rest == "invocation/next") {
    if (req.method != "GET")
      return respond(method_not_allowed("GET"));
    return on_next(std::move(respond));
  }
  if (rest == "init/error") {
    if (req.method != "POST")
      return respond(method_not_allowed("POST"));
    return on_init_error(req, respond);
  }
  constexpr std::string_view inv = "invocation/";
  if (rest.substr(0, inv.size()) == inv)
    return on_invocation(rest.substr(inv.size()), req, respond);
  respond(not_found());
}

runtime_api::runtime_api(net::io_runtime& io, int listening_fd, runtime_api_callbacks callbacks,
                         std::size_t max_response_bytes)
    : impl_(std::make_shared<impl>()) {
  impl_->callbacks = std::move(callbacks);
  impl_->max_response_bytes = max_response_bytes;
  net::http_limits limits;
  limits.max_body_bytes = max_response_bytes;
  limits.hand_over_oversized = true;            // a 413 of our own, and the invocation fails
  limits.idle_timeout = std::chrono::hours(24); // the runtime idles between events
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
    impl_->times.fetched = std::chrono::steady_clock::now();
    guard.unlock();
    respond(event_reply(ev));
  } else {
    impl_->queued = std::move(ev);
  }
  return true;
}

runtime_times runtime_api::times() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->times;
}

void runtime_api::stop() {
  if (impl_->server)
    impl_->server->stop();
}

} // namespace troupe::runtime
