#include "node_process.hpp"

#include "net/base64.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace fs = std::filesystem;

namespace troupe::test {

temp_dir::temp_dir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("troupe-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

temp_dir::~temp_dir() {
  // A node killed with SIGKILL leaves its FUSE view mounted here: detach
  // every mount under the directory first, or nothing under it can go.
  std::ifstream mounts{"/proc/self/mountinfo"};
  auto prefix = path_.string() + "/";
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields{line};
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point.compare(0, prefix.size(), prefix) == 0)
      umount2(point.c_str(), MNT_DETACH);
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

/// The port after `marker` in `line`, or 0.
uint16_t port_after(const std::string& line, const std::string& marker) {
  auto at = line.find(marker);
  return at == std::string::npos
             ? 0
             : static_cast<uint16_t>(std::stoi(line.substr(at + marker.size())));
}

/// Reads the child's stdout until the ready line, bounded by `timeout`: the
/// ingress port, the cluster port, the admin console's and the metrics' (each 0 without one).
std::tuple<uint16_t, uint16_t, uint16_t, uint16_t> await_ready(int fd, pid_t pid,
                                                               std::chrono::seconds timeout) {
  std::string seen;
  auto until = std::chrono::steady_clock::now() + timeout;
  const std::string marker = "troupe-node: ready";
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[512];
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0)
        break;
      seen.append(buf, static_cast<size_t>(n));
      if (auto at = seen.find(marker); at != std::string::npos) {
        auto end = seen.find('\n', at);
        if (end != std::string::npos) {
          auto line = seen.substr(at, end - at);
          return {port_after(line, "ingress on http://127.0.0.1:"),
                  port_after(line, "cluster on 127.0.0.1:"),
                  port_after(line, "admin console on 127.0.0.1:"),
                  port_after(line, "metrics on http://127.0.0.1:")};
        }
      }
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid)
      throw std::runtime_error("troupe-node exited before it was ready: " + seen);
  }
  throw std::runtime_error("troupe-node was not ready in time: " + seen);
}

} // namespace

node_process::node_process(const fs::path& data_dir, std::vector<std::string> args,
                           const fs::path& stderr_file) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  if (std::none_of(args.begin(), args.end(),
                   [](const std::string& a) { return a.rfind("--auth.", 0) == 0; }))
    args.emplace_back("--auth.anonymous");
  args.insert(args.begin(),
              {TROUPE_NODE_PATH, "--node.data-dir=" + data_dir.string(), "--ingress.port=0"});
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // a crashed test leaves no node behind
    dup2(out[1], 1);
    if (!stderr_file.empty()) {
      int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (err < 0)
        _exit(126);
      dup2(err, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out[1]);
  try {
    std::tie(port_, cluster_port_, admin_port_, metrics_port_) =
        await_ready(out[0], pid_, std::chrono::seconds(30));
  } catch (...) {
    ::close(out[0]);
    kill9();
    throw;
  }
  ::close(out[0]); // the node writes nothing more to stdout
  if (port_ != 0)
    client_ = std::make_unique<net::http_client>("127.0.0.1", port_, std::chrono::seconds(60));
}

node_process::~node_process() {
  if (pid_ > 0)
    stop();
}

int node_process::stop() {
  if (pid_ <= 0)
    return -1;
  client_.reset();
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill9();
  return -1;
}

void node_process::kill9() {
  if (pid_ <= 0)
    return;
  client_.reset();
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

double metric(const node_process& node, const std::string& series) {
  net::http_client cl{"127.0.0.1", node.metrics_port(), std::chrono::seconds(10)};
  auto text = "\n" + cl.request("GET", "/metrics").body;
  auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

int listen_tcp(uint32_t address, uint16_t& port, int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(address);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), len) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) {
    if (fd >= 0)
      close(fd);
    throw std::runtime_error("cannot listen on a TCP port");
  }
  port = ntohs(a.sin_port);
  return fd;
}

std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(("timeout -k 5 60 " + cmd + " 2>&1").c_str(), "r");
  if (!p)
    return {-1, "popen failed"};
  char buf[512];
  while (auto n = fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string make_zip(const std::vector<file_entry>& files) {
  temp_dir dir;
  for (const auto& f : files) {
    auto path = dir.path() / "src" / f.name;
    fs::create_directories(path.parent_path());
    std::ofstream{path, std::ios::binary} << f.content;
    fs::permissions(path, f.executable ? fs::perms(0755) : fs::perms(0644));
  }
  auto zip = dir.path() / "out.zip";
  auto cmd = "cd '" + (dir.path() / "src").string() + "' && zip -q -r '" + zip.string() + "' .";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("zip failed: " + cmd);
  return read_file(zip);
}

std::string create_body(const std::string& name, const std::string& runtime,
                        const std::string& handler, const std::string& zip, int timeout_s,
                        int memory_mb) {
  return "{\"FunctionName\":\"" + name + "\",\"Runtime\":\"" + runtime + "\",\"Handler\":\"" +
         handler + "\",\"MemorySize\":" + std::to_string(memory_mb) +
         ",\"Timeout\":" + std::to_string(timeout_s) + ",\"Code\":{\"ZipFile\":\"" +
         net::base64_encode(zip) + "\"}}";
}

net::http_response get_until(node_process& node, const std::string& path,
                             const std::function<bool(const net::http_response&)>& done,
                             std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = node.client().request("GET", path);
    if (done(r) || std::chrono::steady_clock::now() >= deadline)
      return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

fs::path example_zip(const std::string& name) {
  return fs::path{TROUPE_EXAMPLES_DIR} / (name + ".zip");
}

std::string header(const net::http_response& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (net::iequals(h.name, name))
      return h.value;
  return "";
}

} // namespace troupe::test
