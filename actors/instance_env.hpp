#pragma once

#include "net/function_config.hpp"
#include "runtime/sandbox.hpp"

#include <string>
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
};

/// The runtime families a template can pre-start, in the order hosts warm them.
const std::vector<std::string>& runtime_families();

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
  std::string runtime_api; ///< "127.0.0.1:9001" as seen inside
  int output_fd = -1;
};

/// The CPU weight of an instance: proportional to its memory, as Lambda sells
/// CPU with memory (1024 MB = the default weight of 100), within 1..10000.
uint32_t cpu_weight_for(int32_t memory_mb);

/// The claim of a template by an instance of `cfg`: its code, and the
/// environment Lambda gives a function: the reserved AWS_*, _HANDLER and
/// LAMBDA_* variables, then the function's own, which cannot shadow them.
runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in);

} // namespace troupe
