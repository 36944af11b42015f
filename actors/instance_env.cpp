#include "actors/instance_env.hpp"

#include "net/lambda_api.hpp"

#include <algorithm>

namespace troupe {

uint32_t cpu_weight_for(int32_t memory_mb) {
  return static_cast<uint32_t>(std::clamp<int64_t>(int64_t{memory_mb} * 100 / 1024, 1, 10000));
}

const std::vector<std::string>& runtime_families() {
  static const std::vector<std::string> families{"provided", "python3", "nodejs"};
  return families;
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
  if (family == "python3") {
    opts.runtime_dir = in.runtimes_dir + "/python3";
    opts.prestart_argv = {"/usr/bin/python3", "-u", "/var/runtime/bootstrap.py"};
  } else if (family == "nodejs") {
    opts.runtime_dir = in.runtimes_dir + "/nodejs";
    opts.prestart_argv = {"/usr/bin/node", "/var/runtime/bootstrap.js"};
  }
  if (!opts.prestart_argv.empty())
    opts.prestart_env = base_env();
  return opts;
}

runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in) {
  runtime::sandbox_spec spec;
  spec.code_dir = in.code_dir;
  spec.output_fd = in.output_fd;
  spec.argv = {"/var/task/bootstrap"}; // used by provided only
  spec.env = base_env();
  auto add = [&](const std::string& k, const std::string& v) { spec.env.push_back(k + "=" + v); };
  add("_HANDLER", cfg.handler);
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
