#include "actors/instance_env.hpp"

#include "net/lambda_api.hpp"

#include <algorithm>

namespace troupe {

uint32_t cpu_weight_for(int32_t memory_mb) {
  return static_cast<uint32_t>(std::clamp<int64_t>(int64_t{memory_mb} * 100 / 1024, 1, 10000));
}

runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in) {
  runtime::sandbox_spec spec;
  spec.memory_bytes = static_cast<uint64_t>(cfg.memory_mb) << 20;
  spec.pids_max = in.pids_max;
  spec.cpu_weight = cpu_weight_for(cfg.memory_mb);
  spec.code_dir = in.code_dir;
  spec.tmp_bytes = static_cast<uint64_t>(in.tmp_mb) << 20;
  spec.output_fd = in.output_fd;
  auto family = net::runtime_family(cfg.runtime);
  if (family == "python3") {
    spec.runtime_dir = in.runtimes_dir + "/python3";
    spec.argv = {"/usr/bin/python3", "-u", "/var/runtime/bootstrap.py"};
  } else {
    spec.argv = {"/var/task/bootstrap"};
  }
  auto add = [&](const std::string& k, const std::string& v) { spec.env.push_back(k + "=" + v); };
  add("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin");
  add("LANG", "C.UTF-8");
  add("TZ", ":UTC");
  add("HOME", "/tmp");
  add("_HANDLER", cfg.handler);
  add("LAMBDA_TASK_ROOT", "/var/task");
  add("LAMBDA_RUNTIME_DIR", "/var/runtime");
  add("AWS_REGION", in.region);
  add("AWS_DEFAULT_REGION", in.region);
  add("AWS_EXECUTION_ENV", "AWS_Lambda_" + cfg.runtime);
  add("AWS_LAMBDA_FUNCTION_NAME", cfg.name);
  add("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(cfg.memory_mb));
  add("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
  add("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  add("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + cfg.name);
  add("AWS_LAMBDA_LOG_STREAM_NAME", "troupe/" + cfg.revision_id);
  add("AWS_LAMBDA_RUNTIME_API", in.runtime_api);
  // The function's own variables, unless they would shadow the platform's.
  auto platform = spec.env.size();
  for (const auto& [k, v] : cfg.environment) {
    auto prefix = k + "=";
    auto taken = std::any_of(spec.env.begin(), spec.env.begin() + platform,
                             [&](const std::string& kv) { return kv.rfind(prefix, 0) == 0; });
    if (!taken)
      spec.env.push_back(prefix + v);
  }
  return spec;
}

} // namespace troupe
