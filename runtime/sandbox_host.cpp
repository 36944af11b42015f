#include "runtime/sandbox_host.hpp"

#include "runtime/sandbox_wire.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace troupe::runtime::detail {

namespace {

constexpr std::size_t max_report = 4096;

} // namespace

std::string errno_text(const std::string& step, int e) {
  return step + ": " + std::strerror(e);
}

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

// ---- the Runtime API listener inside the sandbox's network namespace ----

namespace {

bool loopback_up(std::string& error) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket for lo");
    return false;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (!ok)
    error = errno_text("bring lo up");
  ::close(fd);
  return ok;
}

int tcp_listener(uint16_t port, std::string& error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket for the Runtime API");
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
    error = errno_text("listen on 127.0.0.1:" + std::to_string(port));
    close_fd(fd);
  }
  return fd;
}

} // namespace

/// Joins the network namespace of the process behind `pidfd` on a short-lived
/// thread (namespaces are per thread), brings lo up and listens there. The
/// socket stays in that namespace after the thread is gone.
int listen_in_netns(int pidfd, uint16_t port, std::string& error, uint16_t second_port,
                    int* second_fd) {
  int fd = -1;
  std::thread([&] {
    if (setns(pidfd, CLONE_NEWNET) < 0)
      error = errno_text("join the sandbox's network namespace");
    else if (loopback_up(error))
      fd = tcp_listener(port, error);
    if (fd >= 0 && second_port != 0 && (*second_fd = tcp_listener(second_port, error)) < 0)
      close_fd(fd);
  }).join();
  return fd;
}

// ---- handing over the spec ------------------------------------------------

/// Sends `frame` with `fds` attached to its first bytes.
std::string send_frame(int sock, const std::string& frame, const std::vector<int>& fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  iovec iov{const_cast<char*>(frame.data()), frame.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  std::size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t n = sent == 0 ? sendmsg(sock, &msg, MSG_NOSIGNAL)
                          : send(sock, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno_text("send to sandbox init");
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

namespace {

/// Reads from `sock` with a deadline: 0 bytes = EOF, -1 with errno (ETIMEDOUT).
/// With `fd`, an fd passed with those bytes lands there (close-on-exec).
ssize_t read_until(int sock, char* buf, std::size_t len,
                   std::chrono::steady_clock::time_point deadline, int* fd = nullptr) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{sock, POLLIN, 0};
    int ready = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready == 0)
      errno = ETIMEDOUT;
    if (ready <= 0)
      return -1;
    iovec iov{buf, len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = fd ? control : nullptr;
    msg.msg_controllen = fd ? sizeof control : 0;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    for (cmsghdr* c = fd ? CMSG_FIRSTHDR(&msg) : nullptr; c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
          c->cmsg_len == CMSG_LEN(sizeof(int)))
        std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
  }
}

} // namespace

/// Waits for the init's one-byte message `expected`: "" when it came, else why
/// not (the init's own error text, its EOF, or the deadline).
std::string await_message(int sock, char expected, std::chrono::steady_clock::time_point deadline,
                          const char* what, int* fd) {
  char c = 0;
  ssize_t n = read_until(sock, &c, 1, deadline, fd);
  if (n == 1 && c == expected)
    return {};
  if (fd)
    close_fd(*fd); // attached to anything else: not the one asked for
  if (n < 0 && errno == ETIMEDOUT)
    return std::string("sandbox init did not report ") + what + " in time (killed)";
  if (n < 0)
    return errno_text("read from sandbox init");
  if (n == 0 || c != wire::failed)
    return std::string("sandbox init ended before ") + what;
  std::string text;
  char buf[512];
  while ((n = read_until(sock, buf, sizeof buf, deadline)) > 0 && text.size() < max_report)
    text.append(buf, static_cast<std::size_t>(n));
  return text.empty() ? std::string("sandbox init failed before ") + what : text;
}

// ---- identities -------------------------------------------------------------

bool uid_leases::take(uint32_t base, uint32_t count, uint32_t& out) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t uid = base + (cursor_ + i) % count;
    if (taken_.insert(uid).second) {
      cursor_ = (cursor_ + i + 1) % count;
      out = uid;
      return true;
    }
  }
  return false;
}

void uid_leases::give_back(uint32_t uid) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_.erase(uid);
}

uid_leases& leases() {
  static uid_leases l;
  return l;
}

} // namespace troupe::runtime::detail
