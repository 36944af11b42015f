#pragma once

#include "net/function_config.hpp"
#include "runtime/sandbox.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

/// What every template on a host has in common.
struct template_inputs {
  std::string init_path;    ///< troupe-sandbox-init
  std::string run_dir;      ///< what this pool's sandbox roots are mounted over
  std::string runtimes_dir; ///< host folder holding <family>/ runtime files
  int32_t tmp_mb = 512;
  uint32_t pids_max = 1024; ///< processes and threads of one instance
  uint32_t uid_base = 0;    ///< each sandbox runs as its own uid from here ...
  uint32_t uid_count = 0;   ///< ... (0: all as nobody)
  uint16_t proxy_port = 0;  ///< the egress proxy's port inside (0: no way out)
};

/// The runtime families a template can pre-start, in the order hosts warm them.
/// "nodejs-ric" is the nodejs variant that runs AWS Lambda's own Runtime
/// Interface Client (npm aws-lambda-ric) instead of Troupe's bootstrap.
const std::vector<std::string>& runtime_families();

/// The function variable that picks a runtime's client: "aws-lambda-ric" makes
/// a nodejs function run under the RIC (nodejs-ric). Any other value, or none:
/// Troupe's own bootstrap.
constexpr std::string_view runtime_client_variable = "TROUPE_RUNTIME_CLIENT";

/// The family of the template an instance of `cfg` takes: its runtime's
/// family, or that family's variant that its runtime_client_variable names.
std::string template_family(const net::function_config& cfg);

/// The template of one pool, (runtime family, memory size): cgroup limits from
/// the memory size, and the runtime process pre-started: Troupe's bootstrap in
/// the interpreter for python3 and nodejs, a plain waiting process for provided
/// (which execs /var/task/bootstrap when claimed).
runtime::sandbox_options template_for(const std::string& family, int32_t memory_mb,
                                      const template_inputs& in);

/// Where the host keeps what a claim refers to.
struct spec_inputs {
  std::string code_dir; ///< the function's package directory on this host
  std::string region;
  std::string runtime_api;   ///< "127.0.0.1:9001" as seen inside
  std::string instance_id{}; ///< names its log stream
  int64_t now_ms = 0;        ///< when it starts (Unix epoch ms): dates its log stream
  std::string proxy{};       ///< "127.0.0.1:3128" of its egress proxy inside ("": none)
};

/// Lambda's AWS_LAMBDA_LOG_STREAM_NAME: "2024/05/01/[$LATEST]<instance id>".
std::string log_stream_name(const net::function_config& cfg, const spec_inputs& in);

/// The CPU weight of an instance: proportional to its memory, as Lambda sells
/// CPU with memory (1024 MB = the default weight of 100), within 1..10000.
uint32_t cpu_weight_for(int32_t memory_mb);

/// The claim of a template by an instance of `cfg`: its code, and the
/// environment Lambda gives a function (its "defined runtime environment
/// variables"): the reserved _HANDLER, TZ, LAMBDA_* and AWS_* ones, then the
/// function's own, which cannot shadow them, then the unreserved defaults
/// (PATH, LANG, LD_LIBRARY_PATH, NODE_PATH or PYTHONPATH) it did not set.
/// No AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN: Troupe
/// has no execution roles to take credentials from. _X_AMZN_TRACE_ID is the
/// runtime's to set per invocation, from Lambda-Runtime-Trace-Id.
runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in);

} // namespace troupe
