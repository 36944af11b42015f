#pragma once
// Shared by the runtime/ sandbox tests: a temporary directory with code/ and run/,
// sandbox options using troupe-sandbox-init, bounded runs, and /proc helpers.

#include "net/io_runtime.hpp"
#include "runtime/sandbox.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <unistd.h>
#include <vector>

namespace troupe::test {

/// How long a test waits for a sandbox to exit.
inline constexpr std::chrono::seconds wait_limit{10};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Number of entries in `dir`; 0 when it cannot be read.
inline std::size_t entries(const std::string& dir) {
  std::error_code ec;
  auto it = std::filesystem::directory_iterator(dir, ec);
  return ec ? 0
            : static_cast<std::size_t>(std::distance(it, std::filesystem::directory_iterator()));
}

inline std::size_t open_fds() {
  return entries("/proc/self/fd");
}

/// Children of `pid` (all of its threads).
inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream in(slurp(task.path().string() + "/children"));
    for (pid_t child; in >> child;)
      out.push_back(child);
  }
  return out;
}

inline double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

inline double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

/// What running a spec gave.
struct outcome {
  std::string error;  ///< from start()
  int status = -1;    ///< wait status; -2 when it did not exit in time
  std::string output; ///< stdout and stderr
};

/// A fixture on top of `Base` (::testing::Test or a fixture derived from it). After
/// Base::SetUp() (unless it skipped or failed), SetUp() makes `dir_`, a fresh
/// /tmp/<prefix>-XXXXXX with an empty code/ (`code_dir_`), and points `opts_` at
/// troupe-sandbox-init and `dir_`/run; TearDown() removes `dir_`.
template <class Base = ::testing::Test> class sandbox_fixture : public Base {
protected:
  explicit sandbox_fixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    Base::SetUp();
    if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure())
      return;
    std::string tmpl = "/tmp/" + prefix_ + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    code_dir_ = dir_ + "/code";
    std::filesystem::create_directories(code_dir_);
    std::filesystem::permissions(code_dir_, std::filesystem::perms(0755));
    opts_.init_path = TROUPE_SANDBOX_INIT;
    opts_.run_dir = dir_ + "/run";
  }

  void TearDown() override {
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
    Base::TearDown();
  }

  std::unique_ptr<runtime::sandbox> prepare() {
    std::string error;
    auto sb = runtime::sandbox::prepare(opts_, error);
    EXPECT_TRUE(sb) << error;
    return sb;
  }

  /// A spec running `argv` with `env` and the code dir as the task.
  runtime::sandbox_spec spec_for(std::vector<std::string> argv,
                                 std::vector<std::string> env = {"PATH=/usr/bin:/bin",
                                                                 "FOO=bar"}) const {
    runtime::sandbox_spec spec;
    spec.code_dir = code_dir_;
    spec.argv = std::move(argv);
    spec.env = std::move(env);
    return spec;
  }

  /// Everything written to the (non-blocking) pipe `fd` until EOF, or until
  /// `limit` has passed; closes `fd`.
  static std::string read_to_eof(int fd, std::chrono::milliseconds limit) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (fd >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    if (fd >= 0)
      close(fd);
    return out;
  }

  /// Starts `spec` in `sb`, reads its output and waits (bounded) for its exit.
  outcome run_in(runtime::sandbox& sb, runtime::sandbox_spec spec) {
    outcome o;
    spec.capture_output = true;
    auto exited = std::make_shared<std::promise<int>>();
    auto status = exited->get_future();
    sb.on_exit(io_, [exited](int s) { exited->set_value(s); });
    o.error = sb.start(spec);
    o.output = read_to_eof(sb.release_output_fd(), wait_limit);
    o.status = status.wait_for(wait_limit) == std::future_status::ready ? status.get() : -2;
    return o;
  }

  /// Runs `spec` in a freshly prepared sandbox.
  outcome run(const runtime::sandbox_spec& spec) {
    auto sb = prepare();
    return sb ? run_in(*sb, spec) : outcome{"prepare failed", -1, ""};
  }

  net::io_runtime io_{1};
  std::string dir_, code_dir_;
  runtime::sandbox_options opts_;

private:
  std::string prefix_;
};

} // namespace troupe::test
