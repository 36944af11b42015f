// The process hardening of troupe-sandbox-init: capabilities, securebits,
// resource limits, the seccomp allowlist, and what the runtimes still need.
#include "tests/runtime/sandbox_fixture.hpp"

#include <fcntl.h>
#include <functional>
#include <map>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace troupe::test;
using troupe::runtime::sandbox;
using troupe::runtime::sandbox_spec;

namespace {

constexpr int poll_limit_ms = 10000;

/// Serves one HTTP request on `listener` (bounded by poll_limit_ms): answers "ok".
void answer_one_request(int listener) {
  pollfd p{listener, POLLIN, 0};
  if (poll(&p, 1, poll_limit_ms) != 1)
    return;
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  std::string request;
  char buf[1024];
  pollfd c{conn, POLLIN, 0};
  while (request.find("\r\n\r\n") == std::string::npos && poll(&c, 1, poll_limit_ms) == 1) {
    ssize_t n = read(conn, buf, sizeof buf);
    if (n <= 0)
      break;
    request.append(buf, static_cast<std::size_t>(n));
  }
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  (void)!write(conn, reply.data(), reply.size());
  close(conn);
}

class HardeningTest : public sandbox_fixture<> {
protected:
  HardeningTest() : sandbox_fixture("troupe-hardening-test") {}

  /// A spec and the template settings it needs.
  struct job : sandbox_spec {
    uint32_t uid = 65534;
    uint64_t tmp_bytes = 512ull << 20;
  };

  job spec_of(std::vector<std::string> argv, uint32_t uid = 65534) const {
    job j;
    static_cast<sandbox_spec&>(j) = spec_for(std::move(argv));
    j.uid = uid;
    return j;
  }

  job shell(const std::string& script, uint32_t uid = 65534) const {
    return spec_of({"/bin/sh", "-c", script}, uid);
  }

  job python(const std::string& script, uint32_t uid = 65534) const {
    return spec_of({"/usr/bin/python3", "-c", script}, uid);
  }

  /// Runs `spec` to its exit (bounded); `host` serves the Runtime API listener meanwhile.
  /// (Unlike sandbox_fixture::run, a failed prepare() is only reported in the outcome.)
  outcome run(const job& spec, std::function<void(int listener)> host = {}) {
    std::string error;
    opts_.uid = opts_.gid = spec.uid;
    opts_.tmp_bytes = spec.tmp_bytes;
    auto sb = sandbox::prepare(opts_, error);
    if (!sb)
      return {"prepare: " + error, -1, ""};
    int listener = sb->release_runtime_api_fd();
    std::thread server([&] {
      if (host)
        host(listener);
    });
    auto o = run_in(*sb, spec);
    server.join();
    close(listener);
    return o;
  }

  /// Runs `spec` and expects a clean exit; returns its output.
  std::string output_of(const job& spec, std::function<void(int)> host = {}) {
    auto o = run(spec, std::move(host));
    EXPECT_EQ(o.error, "");
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.status << " " << o.output;
    return o.output;
  }
};

TEST_F(HardeningTest, NoCapabilitiesNoNewPrivsAndAFilterEvenForRoot) {
  const std::string status = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' "
                             "/proc/self/status";
  const std::string expected = "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
                               "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
                               "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
  EXPECT_EQ(output_of(shell(status)), expected);
  EXPECT_EQ(output_of(shell(status, 0)), expected);
}

TEST_F(HardeningTest, APrestartedRuntimeIsAsConfinedBeforeAndAfterItsClaim) {
  // The interpreter of a template runs long before any claim: it must be
  // unprivileged and filtered from its first instruction, not from the claim.
  const std::string status =
      "grep -E '^(Uid|Cap(Prm|Eff|Bnd)|NoNewPrivs|Seccomp):' /proc/self/status"
      " | tr -s '\\t' ' '";
  opts_.prestart_argv = {"/bin/sh", "-c",
                         status +
                             " > /tmp/before; printf R >&3; cat <&3 > /dev/null;"
                             " exec 3>&-; cat /tmp/before; " +
                             status};
  opts_.prestart_env = {"PATH=/usr/bin:/bin"};
  auto out = output_of(shell("unused"));
  std::string once = "Uid: 65534 65534 65534 65534\nCapPrm: 0000000000000000\n"
                     "CapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
                     "NoNewPrivs: 1\nSeccomp: 2\n";
  EXPECT_EQ(out, once + once);
}

TEST_F(HardeningTest, SecurebitsAreSetAndLocked) {
  // NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and their locks, KEEP_CAPS locked off.
  auto script = "import ctypes; libc = ctypes.CDLL(None, use_errno=True);"
                "print(hex(libc.prctl(27, 0, 0, 0, 0)))"; // PR_GET_SECUREBITS
  EXPECT_EQ(output_of(python(script)), "0xef\n");
  EXPECT_EQ(output_of(python(script, 0)), "0xef\n");
}

TEST_F(HardeningTest, HostSysctlsAreReadOnlyEvenForRoot) {
  // uid 0 may write root-owned sysctls without any capability (kernel.core_pattern
  // would run a program on the host); the sandbox's own hostname stays readable.
  auto out = output_of(shell("for f in /proc/sys/kernel/core_pattern /proc/sys/kernel/modprobe"
                             " /proc/sysrq-trigger; do test -w $f && echo writable $f; done;"
                             " cat /proc/sys/kernel/hostname",
                             0));
  EXPECT_EQ(out, "troupe\n");
}

TEST_F(HardeningTest, ResourceLimits) {
  EXPECT_EQ(output_of(shell("ulimit -c; ulimit -Hc; ulimit -n; ulimit -Hn")), "0\n0\n1024\n1024\n");
}

/// One call made from Python with ctypes, and the outcome it must have.
struct probe {
  std::string name;
  std::string call;     ///< a Python expression; L is libc, n is ctypes.c_long
  std::string expected; ///< "ok" or an errno name
};

std::string raw(long nr, const std::string& args) {
  return "L.syscall(n(" + std::to_string(nr) + ")" + args + ")";
}

std::vector<probe> probes() {
  return {
      {"mount", "L.mount(b'none', b'/tmp', b'tmpfs', 0, None)", "EPERM"},
      {"umount2", "L.umount2(b'/tmp', 0)", "EPERM"},
      {"chroot", "L.chroot(b'/tmp')", "EPERM"},
      {"pivot_root", raw(SYS_pivot_root, ", b'/tmp', b'/tmp'"), "EPERM"},
      {"unshare_user", "L.unshare(0x10000000)", "EPERM"},
      {"unshare_net", "L.unshare(0x40000000)", "EPERM"},
      {"setns", "L.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)", "EPERM"},
      {"clone_newuser", raw(SYS_clone, ", n(0x10000011), n(0), n(0), n(0), n(0)"), "EPERM"},
      {"clone3", raw(SYS_clone3, ", None, n(0)"), "ENOSYS"},
      {"ptrace_traceme", "L.ptrace(0, 0, None, None)", "EPERM"},
      {"process_vm_readv", "L.process_vm_readv(1, None, 0, None, 0, 0)", "EPERM"},
      {"socket_netlink", "L.socket(16, 3, 0)", "EPERM"},
      {"socket_packet", "L.socket(17, 3, 0)", "EPERM"},
      {"socket_vsock", "L.socket(40, 1, 0)", "EPERM"},
      {"keyctl", raw(SYS_keyctl, ", n(0), n(-3), n(0)"), "EPERM"},
      {"bpf", raw(SYS_bpf, ", n(0), None, n(0)"), "EPERM"},
      {"perf_event_open", raw(SYS_perf_event_open, ", None, n(0), n(-1), n(-1), n(0)"), "EPERM"},
      {"io_uring_setup", raw(SYS_io_uring_setup, ", n(1), None"), "EPERM"},
      {"userfaultfd", raw(SYS_userfaultfd, ", n(1)"), "EPERM"},
      {"name_to_handle_at", "L.name_to_handle_at(-100, b'/', None, None, 0)", "EPERM"},
      {"personality_no_aslr", "L.personality(0x0040000)", "EPERM"},
      {"klogctl", "L.klogctl(3, None, 0)", "EPERM"},
      {"socket_unix", "L.socket(1, 1, 0)", "ok"},
      {"socket_inet", "L.socket(2, 1, 0)", "ok"},
      {"socket_inet6", "L.socket(10, 2, 0)", "ok"},
      {"personality_query", "L.personality(n(0xffffffff))", "ok"},
  };
}

TEST_F(HardeningTest, DangerousCallsFailWithEpermAndOrdinaryOnesWork) {
  std::string script =
      "import ctypes, errno, os\n"
      "L = ctypes.CDLL(None, use_errno=True)\n"
      "n = ctypes.c_long\n"
      "def probe(name, call):\n"
      "    rc = call()\n"
      "    if rc == 0 and name.startswith('clone'):\n"
      "        os._exit(0)  # the child of a clone that should have failed\n"
      "    print(name, 'ok' if rc >= 0 else errno.errorcode[ctypes.get_errno()])\n";
  std::map<std::string, std::string> expected, seen;
  for (const auto& p : probes()) {
    script += "probe('" + p.name + "', lambda: " + p.call + ")\n";
    expected[p.name] = p.expected;
  }
  std::istringstream in(output_of(python(script)));
  for (std::string call, result; in >> call >> result;)
    seen[call] = result;
  EXPECT_EQ(seen, expected);
}

TEST_F(HardeningTest, PythonRuntimeNeedsStillWork) {
  auto script = "import http.client, importlib, json, subprocess, threading, traceback\n"
                "box = []\n"
                "t = threading.Thread(target=lambda: box.append(json.dumps({'a': 1})))\n"
                "t.start(); t.join()\n"
                "importlib.import_module('email.utils')\n"
                "subprocess.run(['/bin/true'], check=True)\n"
                "c = http.client.HTTPConnection('127.0.0.1:9001', timeout=10)\n"
                "c.request('GET', '/2018-06-01/runtime/invocation/next')\n"
                "print(box[0], c.getresponse().read().decode())\n";
  EXPECT_EQ(output_of(python(script), answer_one_request), "{\"a\": 1} ok\n");
}

TEST_F(HardeningTest, ShellRuntimeNeedsStillWork) {
  auto script = "set -eu; echo abc | tr a-c x-z | sed s/x/X/; sleep 0.05 & wait $!;"
                " echo waited; curl --version > /dev/null && echo curl-runs;"
                " f=$(mktemp); echo in-tmp > \"$f\"; case $f in /tmp/*) cat \"$f\";; esac;"
                " curl -sS --max-time 10 http://127.0.0.1:9001/2018-06-01/runtime/invocation/next;"
                " echo";
  EXPECT_EQ(output_of(shell(script), answer_one_request), "Xyz\nwaited\ncurl-runs\nin-tmp\nok\n");
}

TEST_F(HardeningTest, OnlyStandardFdsAndExactlyTheSpecsEnvironment) {
  // Probing with fstat opens nothing itself; /proc/self/environ is what the
  // program was started with.
  auto script = "import os, resource\n"
                "def is_open(fd):\n"
                "    try:\n"
                "        os.fstat(fd); return True\n"
                "    except OSError:\n"
                "        return False\n"
                "limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
                "print([fd for fd in range(limit) if is_open(fd)])\n"
                "print(open('/proc/self/environ', 'rb').read().split(b'\\0'))\n";
  EXPECT_EQ(output_of(python(script)), "[0, 1, 2]\n[b'PATH=/usr/bin:/bin', b'FOO=bar', b'']\n");
}

} // namespace
