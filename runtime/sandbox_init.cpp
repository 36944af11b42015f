// troupe-sandbox-init: the first process (PID 1) of every sandbox, and the
// template it stands for.
//
// Usage: troupe-sandbox-init, with fd 3 the control socket to the host
// (messages in runtime/sandbox_wire.hpp). It waits for the template frame,
// builds the read-only root (runtime/sandbox_root.cpp) and pivots into it,
// then forks the runtime process and waits until that reports ready:
//   - a pre-started runtime (an interpreter with Troupe's bootstrap) is exec'd
//     at once, unprivileged and filtered, and writes 'R' on its fd 3 when its
//     libraries are loaded;
//   - a plain one (provided) drops the same privileges, writes 'R' and waits
//     to exec the claim's argv.
// The init tells the host 'R'. On the claim it moves the code tree the host
// made (open_tree) onto /var/task, hands argv and environment to the runtime
// and answers 'S' once the runtime took them, handing the host the read end of
// the runtime's stdout and stderr (a pipe, so an interpreter started before
// the claim needs no redirection): the host reads the output itself, in order
// with the runtime's Runtime API calls. From then on the init is the PID
// namespace's reaper. When the runtime process ends the init exits with its exit code
// (or 128 + the signal that ended it), which ends every other process of the sandbox. EOF on the
// control socket before the claim is done (the host gave up on the sandbox)
// exits at once; after it the host closes its end.
//
// Hardening of the runtime process, in this order: resource limits (below);
// an empty capability bounding set and locked securebits (no capabilities from
// uid 0 or from setuid, no ambient raise), while CAP_SETPCAP is still held; the
// template's uid/gid; empty effective, permitted, inheritable and ambient sets;
// no_new_privs; and last, just before execve (a plain runtime: before it
// waits), the seccomp allowlist of runtime/seccomp_policy.cpp, compiled once by
// the node and sent with the template. Even uid 0 inside therefore holds no
// capability. The init itself is not dumpable: the runtime cannot ptrace it or
// read its /proc entries.

#include "runtime/sandbox_privileges.hpp"
#include "runtime/sandbox_root.hpp"
#include "runtime/sandbox_wire.hpp"
#include "runtime/seccomp_policy.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace wire = troupe::runtime::wire;
using troupe::runtime::seccomp_program;
using troupe::runtime::init::check;
using troupe::runtime::init::drop_privileges;
using troupe::runtime::init::fail;
using troupe::runtime::init::fail_with;
using troupe::runtime::init::limit_resources;
using troupe::runtime::init::reset_signals;

namespace {

/// The control socket in the init; the claim socket in the runtime process.
constexpr int channel_fd = 3;
constexpr int lowest_free_fd = 4;
constexpr std::size_t max_early_output = 2048;

void send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(127); // the peer is gone: nobody to report to
    done += static_cast<std::size_t>(n);
  }
}

// ---- receiving frames from the host ---------------------------------------

/// Reads exactly `n` bytes; false on EOF.
bool read_full(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      fail("read frame");
    if (got == 0)
      return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

/// Reads one frame's payload, with the fds attached to its first bytes (up to
/// two, close-on-exec). EOF before a whole frame (the host gave up) exits quietly.
std::string receive_frame(std::vector<int>& fds) {
  char head[sizeof(std::uint32_t)];
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  iovec iov{head, sizeof head};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do
    got = recvmsg(channel_fd, &msg, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  check(static_cast<int>(got), "receive frame");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
  if (got == 0 || !read_full(channel_fd, head + got, sizeof head - static_cast<std::size_t>(got)))
    _exit(0);
  std::uint32_t len;
  std::memcpy(&len, head, sizeof len);
  errno = EMSGSIZE;
  if (len > wire::max_payload)
    fail("receive frame");
  std::string payload(len, '\0');
  if (!read_full(channel_fd, payload.data(), len))
    _exit(0);
  return payload;
}

wire::template_frame receive_template(seccomp_program& filter) {
  std::vector<int> fds;
  auto payload = receive_frame(fds);
  for (int fd : fds)
    close(fd);
  wire::template_frame t;
  errno = EBADMSG;
  if (!wire::decode(payload, t) || t.filter.empty() || t.filter.size() % sizeof(sock_filter) != 0)
    fail("decode template");
  filter.instructions.resize(t.filter.size() / sizeof(sock_filter));
  std::memcpy(filter.instructions.data(), t.filter.data(), t.filter.size());
  return t;
}

std::vector<char*> c_strings(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (auto& s : items)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void exec(std::vector<std::string>& argv, std::vector<std::string>& env) {
  errno = EINVAL;
  if (argv.empty() || argv[0].empty())
    fail("exec: empty argv");
  auto args = c_strings(argv);
  auto envp = c_strings(env);
  execve(args[0], args.data(), envp.data());
  fail("exec " + argv[0]);
}

void install_filter(const seccomp_program& filter) {
  std::string error = troupe::runtime::install_seccomp_filter(filter);
  if (!error.empty())
    fail_with(error);
}

// ---- the runtime process -----------------------------------------------------

/// Reads the claim the init writes to a plain runtime, until its EOF.
wire::claim_frame read_claim() {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(channel_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    check(static_cast<int>(n), "read claim");
    if (n == 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  wire::claim_frame c;
  errno = EBADMSG;
  if (!wire::parse_runtime_claim(text, c))
    fail("parse claim");
  return c;
}

/// The forked runtime process: `sock` becomes fd 3, `log` stdout and stderr.
[[noreturn]] void runtime_process(wire::template_frame& t, const seccomp_program& filter, int sock,
                                  int log) {
  if (dup2(sock, channel_fd) != channel_fd) // from here on, failures go to the init
    _exit(127);
  check(dup2(log, 1), "dup2 stdout"); // stdin is the init's /dev/null
  check(dup2(log, 2), "dup2 stderr");
  check(static_cast<int>(syscall(SYS_close_range, lowest_free_fd, ~0u, 0)), "close_range");
  reset_signals();
  limit_resources();
  drop_privileges(t.uid, t.gid);
  if (!t.argv.empty()) {
    install_filter(filter);
    exec(t.argv, t.env); // fd 3 stays open for the bootstrap
  }
  install_filter(filter);
  send_all(channel_fd, std::string(1, wire::ready));
  auto claim = read_claim();
  check(fcntl(channel_fd, F_SETFD, FD_CLOEXEC), "fcntl claim socket");
  check(chdir("/var/task"), "chdir /var/task");
  exec(claim.argv, claim.env);
}

// ---- the init ------------------------------------------------------------------

std::string describe(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

class init_process {
public:
  init_process(wire::template_frame t, seccomp_program filter)
      : t_(std::move(t)), filter_(std::move(filter)) {}

  [[noreturn]] void run() {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    check(sigprocmask(SIG_BLOCK, &chld, nullptr), "block SIGCHLD");
    sigfd_ = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    check(sigfd_, "signalfd");
    troupe::runtime::init::build_and_enter_root(t_.root_dir,
                                                {t_.runtime_dir, t_.tmp_bytes, t_.uid, t_.gid});
    check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable");
    detach_from_host_stdio();
    signal(SIGPIPE, SIG_IGN); // a closed log must not end the sandbox
    fork_runtime();
    for (;;)
      step();
  }

private:
  enum class phase { starting, waiting, claiming, running };

  /// fds 0..2 came from the node: /dev/null of the new root instead.
  static void detach_from_host_stdio() {
    int null_fd = open("/dev/null", O_RDWR);
    check(null_fd, "open /dev/null");
    for (int fd = 0; fd < 3; ++fd)
      if (fd != null_fd)
        check(dup2(null_fd, fd), "dup2 /dev/null");
    if (null_fd >= 3)
      close(null_fd);
  }

  void fork_runtime() {
    int pair[2], pipe_fds[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), "socketpair");
    check(pipe2(pipe_fds, O_CLOEXEC), "pipe");
    child_ = fork();
    check(child_, "fork runtime process");
    if (child_ == 0)
      runtime_process(t_, filter_, pair[1], pipe_fds[1]);
    close(pair[1]);
    close(pipe_fds[1]);
    claim_fd_ = pair[0];
    log_fd_ = pipe_fds[0];
    check(fcntl(log_fd_, F_SETFL, O_NONBLOCK), "fcntl log pipe");
  }

  void step() {
    pollfd fds[4] = {{sigfd_, POLLIN, 0},
                     {reads_output() ? log_fd_ : -1, POLLIN, 0},
                     {claim_fd_, POLLIN, 0},
                     {phase_ == phase::running ? -1 : channel_fd, POLLIN, 0}};
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR)
        return;
      fail("poll");
    }
    if (fds[1].revents)
      relay_output();
    if (fds[2].revents)
      on_runtime_message();
    if (fds[3].revents)
      on_host_message();
    if (fds[0].revents)
      reap();
  }

  /// 'S', with the output pipe if the claim takes it: the init reads it no more.
  void report_started() {
    if (!take_output_ || log_fd_ < 0)
      return send_all(channel_fd, std::string(1, wire::started));
    char byte = wire::started;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &log_fd_, sizeof(int));
    ssize_t n;
    do
      n = sendmsg(channel_fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != 1)
      _exit(127); // the host is gone
    close(log_fd_);
    log_fd_ = -1;
  }

  /// Whether the init reads the runtime's output: not once a claim that takes
  /// it is under way, so that all of it (from the claim on) reaches the host.
  bool reads_output() const {
    return log_fd_ >= 0 && !(take_output_ && phase_ >= phase::claiming);
  }

  /// Reads what the runtime wrote while the init reads its output pipe: keeps
  /// the start of it for an error report (before the claim), else drops it.
  void relay_output() {
    if (!reads_output())
      return;
    char buf[65536];
    for (;;) {
      ssize_t n = read(log_fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        if (n == 0) { // every writer is gone
          close(log_fd_);
          log_fd_ = -1;
        }
        return;
      }
      if (phase_ < phase::claiming && early_.size() < max_early_output) {
        early_.append(buf, std::min(static_cast<std::size_t>(n), max_early_output - early_.size()));
      }
    }
  }

  /// 'R' or an error from the runtime, or its EOF once it took the claim.
  void on_runtime_message() {
    char buf[1024];
    ssize_t n = read(claim_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      return;
    if (n > 0) {
      std::string_view got(buf, static_cast<std::size_t>(n));
      if (phase_ == phase::starting && reply_.empty() && got[0] == wire::ready) {
        phase_ = phase::waiting;
        send_all(channel_fd, std::string(1, wire::ready));
        got.remove_prefix(1);
      }
      if (reply_.size() < 4096)
        reply_.append(got);
      return;
    }
    close(claim_fd_);
    claim_fd_ = -1;
    if (phase_ == phase::claiming && reply_.empty()) {
      phase_ = phase::running;
      report_started();
      return;
    }
    runtime_failed("ended (" + describe(end_runtime()) + ")");
  }

  /// The runtime's wait status once it has gone (given a moment to exit on its
  /// own after closing its channel, then killed).
  int end_runtime() {
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (waitpid(child_, &status, WNOHANG) == child_)
        return status;
      usleep(1000);
    }
    kill(child_, SIGKILL);
    while (waitpid(child_, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  /// Reports why the runtime cannot go on and ends the sandbox.
  [[noreturn]] void runtime_failed(const std::string& what) {
    std::string text = reply_;
    if (!text.empty() && text[0] == wire::failed)
      text.erase(0, 1);
    if (text.empty())
      text = "runtime process " + what + (phase_ == phase::starting ? " before it was ready" : "");
    relay_output();
    if (!early_.empty())
      text += "; its output: " + early_;
    fail_with(text);
  }

  /// The claim (or EOF: the host gave up on the sandbox).
  void on_host_message() {
    std::vector<int> fds;
    auto payload = receive_frame(fds);
    wire::claim_frame claim;
    errno = EBADMSG;
    if (phase_ != phase::waiting || !wire::decode(payload, claim) || fds.size() != 1)
      fail("claim");
    check(move_mount(fds[0], "", AT_FDCWD, "/var/task", MOVE_MOUNT_F_EMPTY_PATH),
          "mount the code at /var/task");
    close(fds[0]);
    take_output_ = claim.take_output;
    phase_ = phase::claiming;
    send_all(claim_fd_, wire::runtime_claim(claim));
    shutdown(claim_fd_, SHUT_WR);
  }

  /// Reaps every child; exits once the runtime process is among them.
  void reap() {
    signalfd_siginfo info;
    while (read(sigfd_, &info, sizeof info) > 0) {
    }
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0)
        return;
      if (pid != child_)
        continue;
      if (phase_ != phase::running)
        runtime_failed("ended (" + describe(status) + ")");
      relay_output();
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }

  wire::template_frame t_;
  seccomp_program filter_;
  phase phase_ = phase::starting;
  pid_t child_ = -1;
  int sigfd_ = -1;
  int claim_fd_ = -1; ///< socket pair to the runtime process
  int log_fd_ = -1;   ///< read end of its stdout/stderr pipe, until handed to the host
  bool take_output_ = false;
  std::string reply_; ///< what the runtime wrote besides 'R'
  std::string early_; ///< output from before the claim, for error reports
};

} // namespace

namespace troupe::runtime::init {

void fail_with(const std::string& msg) {
  std::string report(1, wire::failed);
  report += msg;
  (void)!write(channel_fd, report.data(), report.size());
  _exit(127);
}

void fail(const std::string& step) {
  fail_with(step + ": " + std::strerror(errno));
}

} // namespace troupe::runtime::init

int main(int argc, char**) {
  if (fcntl(channel_fd, F_SETFD, FD_CLOEXEC) < 0)
    return 126; // no control socket: nobody to report to
  errno = EINVAL;
  if (argc != 1)
    fail("usage: troupe-sandbox-init (no arguments; fd 3 is the control socket)");
  umask(022);
  seccomp_program filter; // compiled once per node, sent with the template
  auto t = receive_template(filter);
  init_process(std::move(t), std::move(filter)).run();
}
