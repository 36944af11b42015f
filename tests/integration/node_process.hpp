#pragma once
// A real troupe-node process for integration tests: started on an ephemeral
// loopback port with its own data directory, stopped (or killed) by the test.

#include "net/http_client.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace troupe::test {

/// A fresh directory under /tmp, removed with its contents on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

class node_process {
public:
  /// Starts troupe-node with `--node.data-dir=data_dir --ingress.port=0` plus
  /// `args`, and waits (bounded) until it reports its port. Unless `args`
  /// set an `--auth.` option, the node takes unsigned requests
  /// (`--auth.anonymous`): tests of authentication say how they want it.
  /// With `stderr_file`, the node's log goes there instead of the test's standard error.
  node_process(const std::filesystem::path& data_dir, std::vector<std::string> args = {},
               const std::filesystem::path& stderr_file = {});
  ~node_process(); // stops the node if still running

  uint16_t port() const { return port_; }                 ///< of its ingress (0 without one)
  uint16_t cluster_port() const { return cluster_port_; } ///< where it takes other nodes (or 0)
  uint16_t admin_port() const { return admin_port_; }     ///< its admin console's (or 0)
  uint16_t metrics_port() const { return metrics_port_; } ///< where it serves /metrics (or 0)
  pid_t pid() const { return pid_; }
  net::http_client& client() { return *client_; } ///< to its ingress (only with one)

  /// SIGTERM and a bounded wait; returns the exit status (-1 if it had to be killed).
  int stop();
  /// SIGKILL, as a crash would.
  void kill9();

private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t cluster_port_ = 0;
  uint16_t admin_port_ = 0;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<net::http_client> client_;
};

/// The value of `series` (name and labels as rendered) in `node`'s
/// /metrics (it must serve them), or -1 if it has no such series.
double metric(const node_process& node, const std::string& series);

/// How many times `what` occurs in `text`.
size_t count(const std::string& text, const std::string& what);

/// A TCP socket listening on `address` (IPv4, host byte order: 0x7f000002
/// is 127.0.0.2, outside every sandbox, whose 127.0.0.0/8 is its own
/// loopback) at a port the kernel picks, set in `port`; throws if it cannot.
int listen_tcp(uint32_t address, uint16_t& port, int backlog = 64);

/// Runs a shell command, killed after 60 s (a node that should have refused
/// its settings would otherwise run on); its exit status and what it printed
/// (standard output and error).
std::pair<int, std::string> run(const std::string& cmd);

/// GETs `path` from the node's ingress until `done` holds of the answer or
/// `timeout` has passed, and returns the last answer: for what a node records
/// just after it answers, as a function's log record.
net::http_response get_until(node_process& node, const std::string& path,
                             const std::function<bool(const net::http_response&)>& done,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The bytes of a file.
std::string read_file(const std::filesystem::path& p);

/// A zip archive (built with the zip command) holding `files` (name, content, executable).
struct file_entry {
  std::string name;
  std::string content;
  bool executable = false;
};
std::string make_zip(const std::vector<file_entry>& files);

/// The CreateFunction body for a function.
std::string create_body(const std::string& name, const std::string& runtime,
                        const std::string& handler, const std::string& zip, int timeout_s = 10,
                        int memory_mb = 128);

/// The Lambda API's functions collection, and one function's invoke path.
inline const std::string functions_path = "/2015-03-31/functions";
inline std::string invoke_path(const std::string& name) {
  return functions_path + "/" + name + "/invocations";
}

/// The first header named `name` (case-insensitive) of a response, or "".
std::string header(const net::http_response& r, const std::string& name);

/// Path of an example package built by the project (examples/functions).
std::filesystem::path example_zip(const std::string& name);

} // namespace troupe::test
