#include "actors/invocation_record.hpp"

#include "actors/api_mapping.hpp"
#include "actors/protocol/errc.hpp"
#include "net/lambda_api.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"

#include <cmath>

namespace troupe {

std::string_view invocation_outcome(const caf::expected<invocation_result>& res) {
  if (res) {
    if (!res->function_error)
      return "ok";
    if (res->stats.status == "timeout")
      return "timeout";
    if (res->stats.error_type == "Runtime.OutOfMemory")
      return "out_of_memory";
    if (res->stats.status == "error")
      return "runtime_exit";
    return "function_error";
  }
  auto status = to_api_error(res.error()).status;
  if (status == 429)
    return "throttled";
  if (status == 503)
    return "overloaded";
  if (status == 404)
    return "not_found";
  return "error";
}

std::string admission_reason(const caf::error& err) {
  auto api = to_api_error(err);
  if (api.status == 429)
    return api.reason.empty() ? "TooManyRequests" : api.reason;
  if (err.category() == caf::atom("troupe"))
    switch (static_cast<errc>(err.code())) {
    case errc::overloaded:
    case errc::no_capacity:
    case errc::control_plane_down:
    case errc::shutting_down:
      return to_string(static_cast<errc>(err.code()));
    default:
      break;
    }
  return {};
}

namespace {

net::metrics::counter& rejections(const std::string& reason) {
  return net::metrics::registry::node().get_counter(
      "troupe_admission_rejections_total",
      "Invocations refused by a limit or an overload, by reason", {{"reason", reason}});
}

} // namespace

void declare_invocation_metrics() {
  for (auto code :
       {errc::too_many_requests, errc::rate_limited, errc::reserved_limit, errc::overloaded,
        errc::no_capacity, errc::control_plane_down, errc::shutting_down})
    rejections(admission_reason(make_error(code, "")));
}

void record_invocation(std::string_view function_id, const std::string& request_id,
                       const caf::expected<invocation_result>& res, double total_ms) {
  using namespace net::metrics;
  auto slash = function_id.find('/');
  std::string tenant{slash == std::string_view::npos ? "" : function_id.substr(0, slash)};
  std::string name{slash == std::string_view::npos ? function_id : function_id.substr(slash + 1)};
  auto outcome = invocation_outcome(res);
  // A name that does not exist gets no series of its own: callers would
  // otherwise make as many as they like.
  std::string series_name = outcome == "not_found" ? "" : name;
  auto& reg = registry::node();
  labels fn{{"tenant", tenant}, {"function", series_name}};
  auto with = [&](const char* key, std::string value) {
    auto l = fn;
    l.emplace_back(key, std::move(value));
    return l;
  };
  reg.get_counter("troupe_invocations_total", "Invocations finished, by function and outcome",
                  with("outcome", std::string{outcome}))
      .add();
  reg.get_histogram("troupe_invocation_seconds",
                    "End-to-end time of an invocation in the ingress, by function", fn)
      .observe(total_ms / 1000);
  std::string reason;
  if (!res && !(reason = admission_reason(res.error())).empty())
    rejections(reason).add();
  if (res) {
    const auto& s = res->stats;
    reg.get_histogram("troupe_wait_seconds",
                      "Time an invocation waited in its router's queue for an instance", fn)
        .observe(s.wait_ms / 1000);
    reg.get_histogram("troupe_run_seconds", "The runtime's Duration of an invocation", fn)
        .observe(s.run_ms / 1000);
    if (s.init_ms >= 0)
      reg.get_histogram("troupe_init_seconds", "Init duration of a cold start", fn)
          .observe(s.init_ms / 1000);
  }
  if (!net::log::enabled(net::log::level::info))
    return;
  net::log::record rec{net::log::level::info, "invocation", "invocation"};
  rec.field("request_id", request_id)
      .field("tenant", tenant)
      .field("function", name)
      .field("outcome", outcome)
      .field("total_ms", total_ms);
  if (res) {
    const auto& s = res->stats;
    rec.field("version", res->version)
        .field("host", s.host)
        .field("instance", s.instance)
        .field("cold_start", res->cold_start)
        .field("wait_ms", s.wait_ms)
        .field("run_ms", s.run_ms)
        .field("billed_ms", static_cast<int64_t>(std::ceil(s.run_ms)))
        .field("memory_mb", s.memory_mb)
        .field("max_memory_mb", static_cast<int64_t>((s.max_memory_bytes + (1 << 20) - 1) >> 20))
        .field("attempts", s.attempts);
    if (s.init_ms >= 0)
      rec.field("init_ms", s.init_ms);
    if (!s.error_type.empty())
      rec.field("error_type", s.error_type);
  } else {
    auto api = to_api_error(res.error());
    rec.field("status", api.status).field("error", api.message);
    if (!reason.empty())
      rec.field("reason", reason);
  }
}

} // namespace troupe
