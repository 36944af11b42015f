#include "actors/instance_env.hpp"

#include "net/lambda_api.hpp"

#include <algorithm>
#include <ctime>

namespace troupe {

uint32_t cpu_weight_for(int32_t memory_mb) {
  return static_cast<uint32_t>(std::clamp<int64_t>(int64_t{memory_mb} * 100 / 1024, 1, 10000));
}

const std::vector<std::string>& runtime_families() {
  static const std::vector<std::string> families{"provided", "python3", "nodejs", "nodejs-ric"};
  return families;
}

std::string template_family(const net::function_config& cfg) {
  auto family = net::runtime_family(cfg.runtime);
  auto client = cfg.environment.find(std::string{runtime_client_variable});
  if (family == "nodejs" && client != cfg.environment.end() && client->second == "aws-lambda-ric")
    return "nodejs-ric";
  return family;
}

namespace {

/// The variables every runtime process has from its start, before any claim.
std::vector<std::string> base_env() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
          "LANG=C.UTF-8",
          "TZ=:UTC",
          "HOME=/tmp",
          "LAMBDA_TASK_ROOT=/var/task",
          "LAMBDA_RUNTIME_DIR=/var/runtime"};
}

using env_pair = std::pair<std::string, std::string>;

/// Lambda's reserved variables of an instance: the function's cannot replace them.
std::vector<env_pair> reserved_env(const net::function_config& cfg, const spec_inputs& in) {
  auto family = net::runtime_family(cfg.runtime);
  std::vector<env_pair> env{
      {"_HANDLER", cfg.handler},         {"TZ", ":UTC"},
      {"LAMBDA_TASK_ROOT", "/var/task"}, {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
      {"AWS_REGION", in.region},         {"AWS_DEFAULT_REGION", in.region}};
  if (family != "provided") // Lambda names no runtime for OS-only ones
    env.emplace_back("AWS_EXECUTION_ENV", "AWS_Lambda_" + cfg.runtime);
  env.insert(env.end(), {{"AWS_LAMBDA_FUNCTION_NAME", cfg.name},
                         {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(cfg.memory_mb)},
                         {"AWS_LAMBDA_FUNCTION_VERSION", cfg.version},
                         {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
                         {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + cfg.name},
                         {"AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name(cfg, in)},
                         {"AWS_LAMBDA_RUNTIME_API", in.runtime_api}});
  if (!in.proxy.empty()) // the only way out; the sandbox's own loopback stays direct
    for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"})
      env.emplace_back(name, "http://" + in.proxy);
  if (!in.proxy.empty())
    for (const char* name : {"NO_PROXY", "no_proxy"})
      env.emplace_back(name, "localhost,127.0.0.1");
  return env;
}

/// Lambda's unreserved variables: defaults that the function's own replace.
std::vector<env_pair> unreserved_env(const net::function_config& cfg) {
  auto family = net::runtime_family(cfg.runtime);
  std::vector<env_pair> env{
      {"PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin"},
      {"LANG", "C.UTF-8"},
      {"HOME", "/tmp"},
      {"LD_LIBRARY_PATH",
       "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"}};
  if (family == "nodejs")
    env.emplace_back("NODE_PATH",
                     "/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task");
  if (family == "python3")
    env.emplace_back("PYTHONPATH", "/var/runtime");
  return env;
}

} // namespace

runtime::sandbox_options template_for(const std::string& family, int32_t memory_mb,
                                      const template_inputs& in) {
  runtime::sandbox_options opts;
  opts.init_path = in.init_path;
  opts.run_dir = in.run_dir;
  opts.tmp_bytes = static_cast<uint64_t>(in.tmp_mb) << 20;
  opts.uid_base = in.uid_base;
  opts.uid_count = in.uid_count;
  opts.memory_bytes = static_cast<uint64_t>(memory_mb) << 20;
  opts.pids_max = in.pids_max;
  opts.cpu_weight = cpu_weight_for(memory_mb);
  opts.proxy_port = in.proxy_port;
  if (family == "python3") {
    opts.runtime_dir = in.runtimes_dir + "/python3";
    opts.prestart_argv = {"/usr/bin/python3", "-u", "/var/runtime/bootstrap.py"};
  } else if (family == "nodejs") {
    opts.runtime_dir = in.runtimes_dir + "/nodejs";
    opts.prestart_argv = {"/usr/bin/node", "/var/runtime/bootstrap.js"};
  } else if (family == "nodejs-ric") {
    opts.runtime_dir = in.runtimes_dir + "/nodejs-ric"; // its node_modules included
    opts.prestart_argv = {"/usr/bin/node", "/var/runtime/bootstrap.mjs"};
  }
  if (!opts.prestart_argv.empty())
    opts.prestart_env = base_env();
  return opts;
}

runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in) {
  runtime::sandbox_spec spec;
  spec.code_dir = in.code_dir;
  spec.capture_output = true;          // the instance keeps it, invocation by invocation
  spec.argv = {"/var/task/bootstrap"}; // used by provided only
  auto reserved = reserved_env(cfg, in);
  auto is_reserved = [&](const std::string& k) {
    return std::any_of(reserved.begin(), reserved.end(), [&](auto& kv) { return kv.first == k; });
  };
  for (auto& [k, v] : reserved)
    spec.env.push_back(k + "=" + v);
  // The function's own variables, unless they would shadow a reserved one ...
  for (const auto& [k, v] : cfg.environment)
    if (!is_reserved(k))
      spec.env.push_back(k + "=" + v);
  // ... and the defaults it did not set.
  for (auto& [k, v] : unreserved_env(cfg))
    if (cfg.environment.count(k) == 0)
      spec.env.push_back(k + "=" + v);
  return spec;
}

std::string log_stream_name(const net::function_config& cfg, const spec_inputs& in) {
  std::time_t secs = static_cast<std::time_t>(in.now_ms / 1000);
  std::tm day{};
  gmtime_r(&secs, &day);
  char date[16];
  std::strftime(date, sizeof date, "%Y/%m/%d", &day);
  return std::string{date} + "/[" + cfg.version + "]" + in.instance_id;
}

} // namespace troupe
