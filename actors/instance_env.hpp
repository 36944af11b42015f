#pragma once

#include "net/function_config.hpp"
#include "runtime/sandbox.hpp"

#include <string>

namespace troupe {

/// Where the host keeps what a sandbox spec refers to.
struct spec_inputs {
  std::string code_dir;     ///< the function's package directory on this host
  std::string runtimes_dir; ///< host folder holding <family>/ runtime files
  std::string region;
  std::string runtime_api; ///< "127.0.0.1:9001" as seen inside
  int32_t tmp_mb = 512;
  int output_fd = -1;
  uint32_t pids_max = 1024; ///< processes and threads of one instance
};

/// The CPU weight of an instance: proportional to its memory, as Lambda sells
/// CPU with memory (1024 MB = the default weight of 100), within 1..10000.
uint32_t cpu_weight_for(int32_t memory_mb);

/// The sandbox spec of an instance of `cfg`: the program that runs its runtime
/// (`/var/task/bootstrap` for provided, Troupe's Python bootstrap for python3)
/// with cgroup limits from its memory size, and the environment Lambda gives a function: the
/// reserved AWS_*, _HANDLER and LAMBDA_* variables, then the function's own, which cannot shadow
/// them.
runtime::sandbox_spec make_sandbox_spec(const net::function_config& cfg, const spec_inputs& in);

} // namespace troupe
