// troupe-admin against a real node: every command through -c, with and
// without --json; scripts on standard input; the admin token; bad input and
// a lost connection; the interactive console through a pseudo-terminal
// (completion, history).
#include "node_process.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace troupe::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct outcome {
  int status = -1; ///< exit status, -1 when killed at the timeout
  std::string out, err;
};

/// Runs `args` with `input` on standard input; killed after `timeout`; sent
/// SIGINT (Ctrl-C) after `interrupt_after` unless that is 0.
outcome run_program(std::vector<std::string> args, const std::string& input = "",
                    std::chrono::seconds timeout = 60s,
                    std::chrono::milliseconds interrupt_after = 0ms) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!input.empty() && ::write(in[1], input.data(), input.size()) < 0)
    ADD_FAILURE() << "cannot write the script";
  ::close(in[1]);
  outcome o;
  auto start = std::chrono::steady_clock::now();
  auto until = start + timeout;
  bool interrupted = false;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  while (open > 0 && std::chrono::steady_clock::now() < until) {
    if (interrupt_after > 0ms && !interrupted &&
        std::chrono::steady_clock::now() - start > interrupt_after) {
      ::kill(pid, SIGINT);
      interrupted = true;
    }
    if (::poll(fds, 2, 100) <= 0)
      continue;
    for (int i = 0; i < 2; ++i)
      if (fds[i].fd >= 0 && fds[i].revents) {
        char buf[4096];
        auto n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        } else {
          (i == 0 ? o.out : o.err).append(buf, static_cast<size_t>(n));
        }
      }
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int st = 0;
  if (open > 0)
    ::kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  o.status = open > 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
  return o;
}

bool is_json(const std::string& text) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  return p.parse(text).get(e) == simdjson::SUCCESS;
}

class AdminTest : public ::testing::Test {
protected:
  void SetUp() override {
    write(token_file, "s3cret-admin-token-for-tests\n");
    node = std::make_unique<node_process>(
        data.path(),
        std::vector<std::string>{"--admin.listen=127.0.0.1:0",
                                 "--admin.token-file=" + token_file.string(), "--admin.plaintext"});
    ASSERT_NE(node->admin_port(), 0);
  }

  static void write(const fs::path& p, const std::string& text) { std::ofstream{p} << text; }

  std::vector<std::string> console(std::vector<std::string> more, const fs::path& token) const {
    std::vector<std::string> args{TROUPE_ADMIN_PATH, "--plaintext",
                                  "--connect=127.0.0.1:" + std::to_string(node->admin_port()),
                                  "--token-file=" + token.string()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  outcome admin(const std::string& command, bool json = false) const {
    std::vector<std::string> more{"-c", command};
    if (json)
      more.insert(more.begin(), "--json");
    return run_program(console(more, token_file));
  }

  /// The command succeeds, and with --json prints JSON.
  std::string ok(const std::string& command) const {
    auto o = admin(command);
    EXPECT_EQ(o.status, 0) << command << "\n" << o.out << o.err;
    auto j = admin(command, true);
    EXPECT_EQ(j.status, 0) << command << " --json\n" << j.out << j.err;
    EXPECT_TRUE(is_json(j.out)) << command << " --json printed: " << j.out;
    return o.out;
  }

  temp_dir data;
  temp_dir files;
  fs::path token_file = files.path() / "token";
  std::unique_ptr<node_process> node;
};

TEST_F(AdminTest, EveryCommandWorksThroughDashCAndJson) {
  auto zip = (fs::path{TROUPE_EXAMPLES_DIR} / "cpp-echo.zip").string();
  auto deployed = admin("deploy echo " + zip + " --memory 256 --timeout 5");
  ASSERT_EQ(deployed.status, 0) << deployed.out << deployed.err;
  EXPECT_NE(deployed.out.find("echo: deployed (provided, 256 MB"), std::string::npos);
  // A directory is zipped by the console, its modes kept (the bootstrap runs).
  auto dir = fs::path{TROUPE_SOURCE_DIR} / "examples" / "functions" / "python-echo";
  auto py = admin("deploy py " + dir.string() + " --runtime python3 --handler handler.handler");
  ASSERT_EQ(py.status, 0) << py.out << py.err;

  auto list = ok("functions");
  EXPECT_NE(list.find("echo      provided  256"), std::string::npos) << list;
  EXPECT_NE(list.find("py        python3"), std::string::npos) << list;
  auto one = ok("function echo");
  EXPECT_NE(one.find("MemorySize:           256"), std::string::npos) << one;

  auto inv = admin("invoke echo '{\"hello\": \"console\"}'");
  EXPECT_EQ(inv.status, 0) << inv.err;
  EXPECT_NE(inv.out.find("console"), std::string::npos) << inv.out;
  auto pinv = admin("invoke py '{\"n\": 7}'", true);
  EXPECT_EQ(pinv.status, 0) << pinv.err;
  EXPECT_TRUE(is_json(pinv.out)) << pinv.out;
  EXPECT_NE(pinv.out.find("\"StatusCode\":200"), std::string::npos) << pinv.out;

  auto listed = ok("instances echo");
  EXPECT_NE(listed.find("default/echo  host-1  idle"), std::string::npos) << listed;
  EXPECT_NE(listed.find("  1\n"), std::string::npos) << "one invocation\n" << listed;
  EXPECT_NE(ok("instances").find("default/py"), std::string::npos);
  // This node's router of echo (a concurrency change below makes a new one).
  EXPECT_NE(ok("queues").find("default/echo"), std::string::npos);
  EXPECT_NE(ok("breakers").find("default/echo  host-1  closed"), std::string::npos);
  auto logs = ok("logs echo");
  EXPECT_NE(logs.find("REPORT RequestId: "), std::string::npos) << logs;
  EXPECT_NE(ok("concurrency echo 2").find("echo: 2 reserved"), std::string::npos);
  EXPECT_NE(ok("concurrency echo").find("echo: 2 reserved"), std::string::npos);
  EXPECT_NE(ok("concurrency echo none").find("echo: unreserved"), std::string::npos);

  auto hosts = ok("hosts");
  EXPECT_NE(hosts.find("host-1  local"), std::string::npos) << hosts;
  EXPECT_NE(ok("drain host-1").find("host-1: draining"), std::string::npos);
  EXPECT_NE(admin("hosts").out.find("draining"), std::string::npos);
  EXPECT_NE(ok("undrain host-1").find("host-1: serving"), std::string::npos);
  auto nodes = ok("nodes");
  EXPECT_NE(nodes.find("controller  up"), std::string::npos) << nodes;
  auto gateways = ok("gateways");
  EXPECT_NE(gateways.find("gw-host-1"), std::string::npos) << gateways;
  auto status = ok("status");
  EXPECT_NE(status.find("hosts        1 (0 draining"), std::string::npos) << status;
  EXPECT_NE(ok("dlq").find("(none)"), std::string::npos);
  EXPECT_NE(ok("help").find("logs NAME [-f]"), std::string::npos);

  auto made = admin("key create acme --operator");
  ASSERT_EQ(made.status, 0) << made.err;
  auto id_at = made.out.find("access key id:     ");
  ASSERT_NE(id_at, std::string::npos) << made.out;
  auto id = made.out.substr(id_at + 19, 20);
  EXPECT_NE(made.out.find("secret access key: "), std::string::npos);
  auto tenants = ok("tenants");
  EXPECT_NE(tenants.find("acme    " + id + "  operator"), std::string::npos) << tenants;
  auto gone = admin("key delete acme " + id);
  EXPECT_EQ(gone.status, 0) << gone.err;
  EXPECT_EQ(admin("tenants").out.find(id), std::string::npos);
}

TEST_F(AdminTest, FailuresSayWhatWentWrongAndExitNonZero) {
  auto unknown = admin("frobnicate");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("unknown command frobnicate"), std::string::npos) << unknown.err;
  auto usage = admin("invoke");
  EXPECT_EQ(usage.status, 1);
  EXPECT_NE(usage.err.find("usage: invoke NAME"), std::string::npos) << usage.err;
  auto missing = admin("function nope");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("(404"), std::string::npos) << missing.err;
  auto no_host = admin("drain nohost");
  EXPECT_EQ(no_host.status, 1);
  EXPECT_NE(no_host.err.find("no host nohost"), std::string::npos) << no_host.err;
  auto quote = admin("invoke echo '{");
  EXPECT_EQ(quote.status, 2);
  EXPECT_NE(quote.err.find("unclosed '"), std::string::npos) << quote.err;
  auto bad_number = admin("concurrency echo lots");
  EXPECT_EQ(bad_number.status, 1);
  EXPECT_NE(bad_number.err.find("whole number"), std::string::npos);
  auto no_dir = admin("deploy x /nonexistent/dir");
  EXPECT_EQ(no_dir.status, 1);
  EXPECT_NE(no_dir.err.find("cannot read /nonexistent/dir"), std::string::npos) << no_dir.err;
  // The node is still serving.
  EXPECT_EQ(admin("hosts").status, 0);
}

TEST_F(AdminTest, EgressRulesAreAllowedRevokedAndClearedPerTenant) {
  EXPECT_NE(ok("egress acme").find("acme    (none: every connection is refused)"),
            std::string::npos);
  auto allowed = ok("egress acme allow 10.1.0.0/16 API.example.com:443 '[::1]:8000-8100'");
  EXPECT_NE(allowed.find("acme    10.1.0.0/16:*"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("acme    api.example.com:443"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("acme    [::1/128]:8000-8100"), std::string::npos) << allowed;
  ok("egress beta allow '*.internal.test:*'");
  auto all = ok("egress");
  EXPECT_NE(all.find("beta    *.internal.test:*"), std::string::npos) << all;
  // A rule is revoked as written or in its normal form.
  auto revoked = ok("egress acme revoke 10.1.0.0/16 api.example.com:443");
  EXPECT_EQ(revoked.find("10.1.0.0/16"), std::string::npos) << revoked;
  EXPECT_EQ(revoked.find("api.example.com"), std::string::npos) << revoked;
  EXPECT_NE(revoked.find("[::1/128]:8000-8100"), std::string::npos) << revoked;
  auto bad = admin("egress acme allow example.com");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("a host name needs its ports"), std::string::npos) << bad.err;
  EXPECT_EQ(admin("egress acme forbid x").status, 1);
  ok("egress beta clear");
  all = ok("egress");
  EXPECT_EQ(all.find("beta"), std::string::npos) << all;
  EXPECT_NE(all.find("acme"), std::string::npos) << all;
}

TEST_F(AdminTest, TheAdminTokenIsRequired) {
  auto other = files.path() / "other";
  write(other, "not-the-right-token-at-all\n");
  auto wrong = run_program(console({"-c", "hosts"}, other));
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.err.find("the admin token is not valid (401"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.out, "");
  auto shorter = files.path() / "short";
  write(shorter, "abc\n");
  auto too_short = run_program(console({"-c", "hosts"}, shorter));
  EXPECT_EQ(too_short.status, 2);
  EXPECT_NE(too_short.err.find("shorter than 16"), std::string::npos) << too_short.err;
  auto none =
      run_program({TROUPE_ADMIN_PATH, "--plaintext",
                   "--connect=127.0.0.1:" + std::to_string(node->admin_port()), "-c", "hosts"});
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("admin token is needed"), std::string::npos) << none.err;
}

TEST_F(AdminTest, AScriptOnStandardInputRunsEveryLine) {
  auto o = run_program(console({}, token_file), "# a comment\nhosts\nnonsense\n\nstatus\n");
  EXPECT_EQ(o.status, 1) << "one line failed";
  EXPECT_NE(o.out.find("host-1  local"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("event queue"), std::string::npos) << o.out; // after the failure
  EXPECT_NE(o.err.find("unknown command nonsense"), std::string::npos) << o.err;
  auto clean = run_program(console({"--json"}, token_file), "hosts\n");
  EXPECT_EQ(clean.status, 0);
  EXPECT_TRUE(is_json(clean.out)) << clean.out;
}

TEST_F(AdminTest, ALostConnectionIsReportedNotHung) {
  node->stop();
  auto o = run_program(console({"-c", "hosts"}, token_file), "", 30s);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("cannot reach the admin console at 127.0.0.1:"), std::string::npos) << o.err;
}

/// A console over TLS: it needs a certificate of the cluster's CA.
TEST(AdminTlsTest, TheConsoleNeedsACertificateOfTheClustersCa) {
  temp_dir dir;
  auto certs = (dir.path() / "certs").string(), rogue = (dir.path() / "rogue").string();
  auto script = std::string(TROUPE_SOURCE_DIR) + "/deploy/make-certs.sh";
  for (auto made : {run_program({"/bin/bash", script, certs, "ctl", "admin"}),
                    run_program({"/bin/bash", script, rogue, "admin"})})
    ASSERT_EQ(made.status, 0) << made.err;
  auto token = dir.path() / "token";
  std::ofstream{token} << "tls-admin-token-for-tests\n";
  auto tls = [](const std::string& in, const std::string& name) {
    return std::vector<std::string>{"--openssl.certificate=" + in + "/" + name + ".pem",
                                    "--openssl.key=" + in + "/" + name + ".key",
                                    "--openssl.cafile=" + in + "/ca.pem"};
  };
  auto node_args = tls(certs, "ctl");
  node_args.push_back("--admin.listen=127.0.0.1:0");
  node_args.push_back("--admin.token-file=" + token.string());
  temp_dir data;
  node_process node{data.path(), node_args};
  ASSERT_NE(node.admin_port(), 0);
  auto console = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{TROUPE_ADMIN_PATH,
                                  "--connect=127.0.0.1:" + std::to_string(node.admin_port()),
                                  "--token-file=" + token.string(), "-c", "hosts"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_program(args, "", 30s);
  };
  auto good = console(tls(certs, "admin"));
  EXPECT_EQ(good.status, 0) << good.err;
  EXPECT_NE(good.out.find("host-1  local"), std::string::npos) << good.out;
  auto other_ca = console(tls(rogue, "admin"));
  EXPECT_EQ(other_ca.status, 1) << other_ca.out;
  EXPECT_NE(other_ca.err.find("cannot reach the admin console"), std::string::npos) << other_ca.err;
  auto none = console({});
  EXPECT_EQ(none.status, 1) << none.out;
  EXPECT_NE(none.err.find("cannot reach the admin console"), std::string::npos) << none.err;
}

/// The interactive console on a pseudo-terminal.
class terminal {
public:
  explicit terminal(std::vector<std::string> args, const fs::path& history) {
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      setenv("TROUPE_ADMIN_HISTORY", history.c_str(), 1);
      setenv("TERM", "dumb", 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~terminal() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0)
      ::close(fd_);
  }
  void type(const std::string& keys) {
    if (::write(fd_, keys.data(), keys.size()) < 0)
      ADD_FAILURE() << "cannot type";
  }
  /// Reads until `what` was shown (true) or 20 s passed (false).
  bool await(const std::string& what) {
    auto until = std::chrono::steady_clock::now() + 20s;
    while (screen_.find(what, seen_) == std::string::npos &&
           std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[4096];
        auto n = ::read(fd_, buf, sizeof buf);
        if (n <= 0)
          break;
        screen_.append(buf, static_cast<size_t>(n));
      }
    }
    auto at = screen_.find(what, seen_);
    if (at == std::string::npos)
      return false;
    seen_ = at + what.size();
    return true;
  }
  /// Types `keys` until it ends (bounded: 20 s) and returns its exit status,
  /// -1 if it did not end. Typed again each second: libedit discards what
  /// arrives while it sets the terminal up for the next line.
  int end_with(const std::string& keys) {
    for (int i = 0; i < 400; ++i) {
      if (i % 20 == 0)
        type(keys);
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      pollfd p{fd_, POLLIN, 0};
      char buf[4096];
      ssize_t n = ::poll(&p, 1, 50) > 0 ? ::read(fd_, buf, sizeof buf) : 0;
      if (n > 0)
        screen_.append(buf, static_cast<size_t>(n)); // drains the terminal
      else
        std::this_thread::sleep_for(50ms);
    }
    return -1;
  }
  const std::string& screen() const { return screen_; }

private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string screen_;
  std::size_t seen_ = 0;
};

TEST_F(AdminTest, TheInteractiveConsoleCompletesAndKeepsHistory) {
  auto history = files.path() / "history";
  terminal t{console({}, token_file), history};
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  t.type("hos\t");
  ASSERT_TRUE(t.await("hosts")) << t.screen(); // the command's name completed
  t.type("\n");
  ASSERT_TRUE(t.await("host-1  local")) << t.screen();
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  t.type("drain ho\t");
  ASSERT_TRUE(t.await("host-1")) << t.screen(); // a host's name completed
  t.type("\n");
  ASSERT_TRUE(t.await("host-1: draining")) << t.screen();
  ASSERT_TRUE(t.await("troupe> "));
  t.type("nonsense\n");
  ASSERT_TRUE(t.await("unknown command nonsense")) << t.screen();
  ASSERT_TRUE(t.await("troupe> ")) << "the prompt comes back";
  EXPECT_EQ(t.end_with("exit\n"), 1) << "the last command failed\n" << t.screen();
  auto saved = read_file(history);
  EXPECT_NE(saved.find("hosts"), std::string::npos) << saved;
  EXPECT_NE(saved.find("drain\\040host-1"), std::string::npos) << saved; // libedit's escape
}

TEST_F(AdminTest, WatchRedrawsInPlaceUntilCtrlC) {
  terminal t{console({}, token_file), files.path() / "history"};
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  t.type("watch 1\n");
  ASSERT_TRUE(t.await("\x1b[H\x1b[2JEvery 1 s, ")) << t.screen();
  ASSERT_TRUE(t.await("host-1  local")) << t.screen();
  ASSERT_TRUE(t.await("\x1b[H\x1b[2JEvery 1 s, ")) << "refreshed\n" << t.screen();
  ASSERT_TRUE(t.await("(refresh 2; Ctrl-C ends)")) << t.screen();
  t.type("\x03"); // Ctrl-C ends the view, not the console
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  t.type("hosts\n");
  ASSERT_TRUE(t.await("host-1  local")) << t.screen();
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  EXPECT_EQ(t.end_with("exit\n"), 0) << t.screen();
}

TEST_F(AdminTest, WatchWithoutATerminalAppendsEachRefresh) {
  auto o = run_program(console({"--json", "-c", "watch 1"}, token_file), "", 60s, 2500ms);
  EXPECT_EQ(o.status, 0) << "Ctrl-C ends it\n" << o.err;
  EXPECT_GE(std::count(o.out.begin(), o.out.end(), '\n'), 2) << "a line a refresh\n" << o.out;
  EXPECT_TRUE(is_json(o.out.substr(0, o.out.find('\n')))) << o.out;
  EXPECT_EQ(o.out.find("\x1b["), std::string::npos) << "no terminal: no redrawing";
}

TEST_F(AdminTest, ALostConnectionGivesThePromptBack) {
  terminal t{console({}, token_file), files.path() / "history"};
  ASSERT_TRUE(t.await("troupe> ")) << t.screen();
  node->stop();
  t.type("hosts\n");
  ASSERT_TRUE(t.await("error: ")) << t.screen();
  ASSERT_TRUE(t.await("troupe> ")) << "the prompt comes back\n" << t.screen();
  EXPECT_EQ(t.end_with("exit\n"), 1) << t.screen();
}

} // namespace
} // namespace troupe::test
