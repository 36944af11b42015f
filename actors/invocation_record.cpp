#include "actors/invocation_record.hpp"

#include "actors/api_mapping.hpp"
#include "actors/protocol/errc.hpp"
#include "net/lambda_api.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"

#include <cmath>
#include <map>
#include <unordered_map>

namespace troupe {

namespace {

/// The outcome of a result the function gave.
std::string_view outcome_of(const invocation_result& res) {
  if (!res.function_error)
    return "ok";
  if (res.stats.status == "timeout")
    return "timeout";
  if (res.stats.error_type == "Runtime.OutOfMemory")
    return "out_of_memory";
  if (res.stats.status == "error")
    return "runtime_exit";
  return "function_error";
}

/// The outcome of a platform error that answered `status`.
std::string_view outcome_of(int status) {
  switch (status) {
  case 429:
    return "throttled";
  case 503:
    return "overloaded";
  case 404:
    return "not_found";
  }
  return "error";
}

/// Why the platform refused `err` (answered as `api`), or "".
std::string refusal_reason(const caf::error& err, const net::api_error& api) {
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

net::metrics::counter& rejections(const std::string& reason) {
  return net::metrics::registry::node().get_counter(
      "troupe_admission_rejections_total",
      "Invocations refused by a limit or an overload, by reason", {{"reason", reason}});
}

} // namespace

void declare_invocation_metrics() {
  for (auto code :
       {errc::too_many_requests, errc::rate_limited, errc::reserved_limit, errc::overloaded,
        errc::no_capacity, errc::control_plane_down, errc::shutting_down}) {
    auto err = make_error(code, "");
    rejections(refusal_reason(err, to_api_error(err)));
  }
}

invocation_summary summarize(const caf::expected<invocation_result>& res) {
  invocation_summary s;
  if (res) {
    s.outcome = outcome_of(*res);
    s.answered = true;
    s.stats = res->stats;
    s.version = res->version;
    s.cold_start = res->cold_start;
  } else {
    auto api = to_api_error(res.error()); // once: it renders the error's message
    s.outcome = outcome_of(api.status);
    s.status = api.status;
    s.reason = refusal_reason(res.error(), api);
    s.error = std::move(api.message);
  }
  return s;
}

namespace {

/// One function's series, found once per thread instead of per invocation.
struct function_series {
  net::metrics::histogram *total, *wait, *run, *init;
  std::map<std::string_view, net::metrics::counter*> outcomes; ///< made at first use
};

function_series& series_of(const std::string& tenant, const std::string& name) {
  using namespace net::metrics;
  thread_local std::unordered_map<std::string, function_series> cache;
  auto key = tenant + "/" + name;
  if (auto it = cache.find(key); it != cache.end())
    return it->second;
  if (cache.size() >= 10'000) // functions come and go: a bound, not an index of all
    cache.clear();
  auto& reg = registry::node();
  labels fn{{"tenant", tenant}, {"function", name}};
  function_series f{
      &reg.get_histogram("troupe_invocation_seconds",
                         "End-to-end time of an invocation in the ingress, by function", fn),
      &reg.get_histogram("troupe_wait_seconds",
                         "Time an invocation waited in its router's queue for an instance", fn),
      &reg.get_histogram("troupe_run_seconds", "The runtime's Duration of an invocation", fn),
      &reg.get_histogram("troupe_init_seconds", "Init duration of a cold start", fn),
      {}};
  return cache.emplace(std::move(key), std::move(f)).first->second;
}

net::metrics::counter& outcome_counter(function_series& f, const std::string& tenant,
                                       const std::string& name, std::string_view outcome) {
  auto& c = f.outcomes[outcome];
  if (!c)
    c = &net::metrics::registry::node().get_counter(
        "troupe_invocations_total", "Invocations finished, by function and outcome",
        {{"tenant", tenant}, {"function", name}, {"outcome", std::string{outcome}}});
  return *c;
}

/// "tenant/name" as its two parts.
std::pair<std::string, std::string> split_id(std::string_view function_id) {
  auto slash = function_id.find('/');
  if (slash == std::string_view::npos)
    return {std::string{}, std::string{function_id}};
  return {std::string{function_id.substr(0, slash)}, std::string{function_id.substr(slash + 1)}};
}

} // namespace

void count_invocation(std::string_view function_id, const invocation_summary& sum,
                      double total_ms) {
  auto [tenant, name] = split_id(function_id);
  auto outcome = sum.outcome;
  // A name that does not exist gets no series of its own: callers would
  // otherwise make as many as they like.
  auto& f = series_of(tenant, outcome == "not_found" ? std::string{} : name);
  outcome_counter(f, tenant, outcome == "not_found" ? std::string{} : name, outcome).add();
  f.total->observe(total_ms / 1000);
  if (!sum.reason.empty())
    rejections(sum.reason).add();
  const auto& s = sum.stats;
  if (sum.answered) {
    f.wait->observe(s.wait_ms / 1000);
    f.run->observe(s.run_ms / 1000);
    if (s.init_ms >= 0)
      f.init->observe(s.init_ms / 1000);
  }
}

void log_invocation(std::string_view function_id, const std::string& request_id,
                    const invocation_summary& sum, double total_ms) {
  if (!net::log::enabled(net::log::level::info))
    return;
  auto [tenant, name] = split_id(function_id);
  const auto& s = sum.stats;
  auto outcome = sum.outcome;
  net::log::record rec{net::log::level::info, "invocation", "invocation"};
  rec.field("request_id", request_id)
      .field("tenant", tenant)
      .field("function", name)
      .field("outcome", outcome)
      .field("total_ms", total_ms);
  if (sum.answered) {
    rec.field("version", sum.version)
        .field("host", s.host)
        .field("instance", s.instance)
        .field("cold_start", sum.cold_start)
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
    rec.field("status", sum.status).field("error", sum.error);
    if (!sum.reason.empty())
      rec.field("reason", sum.reason);
  }
}

} // namespace troupe
