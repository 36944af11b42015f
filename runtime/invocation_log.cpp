#include "runtime/invocation_log.hpp"

#include <cmath>
#include <cstdio>

namespace troupe::runtime {

namespace {

std::string two_decimals(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x < 0 ? 0.0 : x);
  return buf;
}

} // namespace

std::string invocation_log(const invocation_report& r, std::string_view output) {
  std::string out;
  out.reserve(output.size() + 256);
  out += "START RequestId: " + r.request_id + " Version: " + r.version + "\n";
  out += output;
  if (!output.empty() && output.back() != '\n')
    out += '\n';
  out += "END RequestId: " + r.request_id + "\n";
  auto billed = static_cast<int64_t>(std::ceil(r.duration_ms < 0 ? 0 : r.duration_ms));
  auto used_mb = (r.max_memory_bytes + (1u << 20) - 1) >> 20;
  out += "REPORT RequestId: " + r.request_id + "\tDuration: " + two_decimals(r.duration_ms) +
         " ms\tBilled Duration: " + std::to_string(billed) +
         " ms\tMemory Size: " + std::to_string(r.memory_mb) +
         " MB\tMax Memory Used: " + std::to_string(used_mb) + " MB\t";
  if (r.init_ms >= 0)
    out += "Init Duration: " + two_decimals(r.init_ms) + " ms\t";
  if (!r.status.empty()) {
    out += "Status: " + r.status + "\t";
    if (!r.error_type.empty())
      out += "Error Type: " + r.error_type + "\t";
  }
  out += "\n";
  return out;
}

std::string_view log_tail(std::string_view log, std::size_t max_bytes) {
  return log.size() <= max_bytes ? log : log.substr(log.size() - max_bytes);
}

} // namespace troupe::runtime
