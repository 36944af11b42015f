#include "tests/runtime/sandbox_fixture.hpp"

#include "runtime/cgroup.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <poll.h>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace troupe::test;
using troupe::runtime::sandbox;
using troupe::runtime::sandbox_spec;

namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

std::vector<pid_t> tree_of(pid_t root) {
  std::vector<pid_t> all{root};
  for (std::size_t i = 0; i < all.size(); ++i)
    for (pid_t c : children_of(all[i]))
      all.push_back(c);
  return all;
}

bool alive(pid_t pid) {
  return fs::exists("/proc/" + std::to_string(pid));
}

class SandboxTest : public sandbox_fixture<> {
protected:
  SandboxTest() : sandbox_fixture("troupe-sandbox-test") {}

  void SetUp() override {
    sandbox_fixture::SetUp();
    if (HasFatalFailure())
      return;
    write_file(code_dir_ + "/hello.txt", "hello from the task\n");
  }

  sandbox_spec shell(const std::string& script) const {
    return spec_for({"/bin/sh", "-c", script});
  }

  /// Runs `script` and expects a clean exit; returns its output.
  std::string output_of(const std::string& script, uint32_t uid = 65534) {
    auto spec = shell(script);
    opts_.uid = opts_.gid = uid;
    auto o = run(spec);
    EXPECT_EQ(o.error, "");
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.status << " " << o.output;
    return o.output;
  }
};

TEST_F(SandboxTest, InitIsPid1AndOutOfTheProgramsReach) {
  // The program is the init's child; the init is not dumpable, so even a
  // program running as root cannot read (or ptrace) it.
  auto out = output_of("echo $$; cat /proc/1/environ 2>&1 >/dev/null | sed 's/.*: //'", 0);
  EXPECT_EQ(out, "2\nPermission denied\n");
}

TEST_F(SandboxTest, HostnameIsTroupe) {
  EXPECT_EQ(output_of("cat /proc/sys/kernel/hostname; hostname"), "troupe\ntroupe\n");
}

TEST_F(SandboxTest, EnvironmentAndWorkingDirectoryAreTheSpecs) {
  EXPECT_EQ(output_of("echo $FOO; pwd; test -z \"$HOME\" && echo no-home"),
            "bar\n/var/task\nno-home\n");
}

TEST_F(SandboxTest, TaskIsVisibleAndReadOnlyEvenForRoot) {
  auto out =
      output_of("cat /var/task/hello.txt; touch /var/task/new 2>&1; mkdir /new 2>&1; true", 0);
  EXPECT_NE(out.find("hello from the task"), std::string::npos) << out;
  EXPECT_NE(out.find("touch: cannot touch '/var/task/new': Read-only file system"),
            std::string::npos);
  EXPECT_NE(out.find("mkdir: cannot create directory '/new': Read-only file system"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(code_dir_ + "/new"));
}

TEST_F(SandboxTest, RuntimeDirIsMountedWhenGiven) {
  auto runtime_dir = dir_ + "/runtime";
  fs::create_directories(runtime_dir);
  write_file(runtime_dir + "/bootstrap", "runtime file\n");
  opts_.runtime_dir = runtime_dir;
  EXPECT_EQ(run(shell("cat /var/runtime/bootstrap")).output, "runtime file\n");
}

TEST_F(SandboxTest, TmpIsWritableAndSizeCapped) {
  auto spec =
      shell("echo ok > /tmp/a && cat /tmp/a; head -c 4194304 /dev/zero > /tmp/big 2>/dev/null;"
            " echo rc=$?; wc -c < /tmp/big");
  opts_.tmp_bytes = 1 << 20;
  auto o = run(spec);
  std::istringstream in(o.output);
  std::string ok, rc;
  std::size_t size = 0;
  in >> ok >> rc >> size;
  EXPECT_EQ(ok, "ok") << o.output;
  EXPECT_EQ(rc, "rc=1") << o.output;
  EXPECT_LE(size, 1u << 20);
  EXPECT_GT(size, 0u);
}

TEST_F(SandboxTest, RunsAsNobodyWithoutCapabilities) {
  auto out = output_of("id -u; id -g; id -G; grep -E '^Cap(Eff|Prm)' /proc/self/status");
  EXPECT_EQ(out, "65534\n65534\n65534\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n");
}

TEST_F(SandboxTest, HostFilesAreInvisible) {
  write_file(dir_ + "/marker", "secret");
  auto out = output_of("test -e " + dir_ +
                       "/marker && echo marker; test -e /root && echo root;"
                       " test -e /work && echo work; test -e /.old && echo old; ls /");
  std::set<std::string> expected{"dev", "etc", "proc", "tmp", "usr", "var"};
  for (const char* name : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"})
    if (fs::exists(fs::symlink_status(std::string("/") + name)))
      expected.insert(name);
  std::istringstream in(out);
  std::set<std::string> seen{std::istream_iterator<std::string>(in), {}};
  EXPECT_EQ(seen, expected) << out;
}

TEST_F(SandboxTest, DevIsMinimal) {
  EXPECT_EQ(
      output_of("ls /dev; head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok"),
      "fd\nnull\nrandom\nstderr\nstdin\nstdout\nurandom\nzero\n4\nnull-ok\n");
}

TEST_F(SandboxTest, OnlyLoopbackExists) {
  std::istringstream in(output_of("tail -n +3 /proc/net/dev | cut -d: -f1"));
  std::set<std::string> names;
  for (std::string name; in >> name;)
    names.insert(name);
  EXPECT_EQ(names, std::set<std::string>{"lo"});
}

TEST_F(SandboxTest, RuntimeApiListenerIsReachableFromInside) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->runtime_api_address(), "127.0.0.1:9001");
  int listener = sb->release_runtime_api_fd();
  ASSERT_GE(listener, 0);
  EXPECT_EQ(sb->release_runtime_api_fd(), -1);
  auto spec = shell("");
  spec.argv = {"/usr/bin/python3", "-c",
               "import socket; s = socket.create_connection(('127.0.0.1', 9001)); "
               "s.sendall(b'ping'); s.close()"};
  std::string received;
  std::thread host([&] {
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
      return;
    int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    char buf[64];
    for (ssize_t n; (n = read(conn, buf, sizeof buf)) > 0;)
      received.append(buf, static_cast<std::size_t>(n));
    close(conn);
  });
  auto o = run_in(*sb, spec);
  host.join();
  close(listener);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(received, "ping") << o.output;
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.output;
}

TEST_F(SandboxTest, OnExitDeliversTheExitStatus) {
  auto o = run(shell("echo bye; exit 7"));
  EXPECT_EQ(o.output, "bye\n");
  ASSERT_TRUE(WIFEXITED(o.status)) << o.status;
  EXPECT_EQ(WEXITSTATUS(o.status), 7);
}

TEST_F(SandboxTest, KillEndsTheWholeTree) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  auto exited = std::make_shared<std::promise<int>>();
  auto status = exited->get_future();
  sb->on_exit(io_, [exited](int s) { exited->set_value(s); });
  ASSERT_EQ(sb->start(shell("sleep 100 & sleep 100")), "");
  std::vector<pid_t> tree;
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  auto sleeping = [](pid_t p) {
    return slurp("/proc/" + std::to_string(p) + "/comm") == "sleep\n";
  };
  while ((tree = tree_of(sb->pid()), std::count_if(tree.begin(), tree.end(), sleeping) < 2) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_GE(std::count_if(tree.begin(), tree.end(), sleeping), 2);
  sb->kill();
  ASSERT_EQ(status.wait_for(wait_limit), std::future_status::ready);
  int s = status.get();
  EXPECT_TRUE(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL) << s;
  for (pid_t p : tree)
    EXPECT_FALSE(alive(p)) << p;
}

TEST_F(SandboxTest, BadArgvIsReportedByStart) {
  auto spec = shell("");
  spec.argv = {"/nonexistent/program"};
  auto o = run(spec);
  EXPECT_EQ(o.error, "exec /nonexistent/program: No such file or directory");
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 127) << o.status;
}

TEST_F(SandboxTest, BadCodeDirIsReportedByStart) {
  auto spec = shell("true");
  spec.code_dir = dir_ + "/missing";
  EXPECT_EQ(run(spec).error, "code directory " + dir_ + "/missing: No such file or directory");
}

TEST_F(SandboxTest, BadInitPathFailsPrepare) {
  opts_.init_path = dir_ + "/no-init";
  std::string error;
  EXPECT_EQ(sandbox::prepare(opts_, error), nullptr);
  EXPECT_NE(error.find("no-init"), std::string::npos) << error;
  EXPECT_EQ(entries(opts_.run_dir), 0u);
}

TEST_F(SandboxTest, StartTwiceIsRefused) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  EXPECT_EQ(run_in(*sb, shell("true")).error, "");
  EXPECT_EQ(sb->start(shell("true")), "sandbox already started");
}

// Every root is mounted over the one run directory inside its own mount
// namespace: the host sees neither a directory per sandbox nor a mount.
TEST_F(SandboxTest, DestructionKillsAndLeavesNothingOnTheHost) {
  auto idle = prepare();
  ASSERT_TRUE(idle);
  auto busy = prepare();
  ASSERT_TRUE(busy);
  ASSERT_EQ(busy->start(shell("sleep 100")), "");
  EXPECT_EQ(entries(opts_.run_dir), 0u);
  std::ifstream mountinfo{"/proc/self/mountinfo"};
  std::string mounts{std::istreambuf_iterator<char>{mountinfo}, std::istreambuf_iterator<char>{}};
  EXPECT_EQ(mounts.find(opts_.run_dir), std::string::npos);
  pid_t idle_pid = idle->pid(), busy_pid = busy->pid();
  idle.reset();
  busy.reset();
  EXPECT_EQ(entries(opts_.run_dir), 0u);
  EXPECT_FALSE(alive(idle_pid));
  EXPECT_FALSE(alive(busy_pid));
}

// The init starts with the standard fds and its control socket only, however
// many descriptors the host holds (templates are cloned sharing the host's
// table and take just a few low numbers of it); the host's own stay as they
// were, also with several templates made at once.
TEST_F(SandboxTest, AnInitGetsNoneOfTheHostsDescriptorsAndLeavesThemAsTheyWere) {
  auto marker = dir_ + "/marker";
  write_file(marker, "x");
  std::vector<int> held;
  for (int i = 0; i < 300; ++i) { // not close-on-exec: only the clone's own care keeps them out
    int fd = ::open(marker.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    held.push_back(fd);
  }
  struct stat want {};
  ASSERT_EQ(::stat(marker.c_str(), &want), 0);
  std::vector<std::future<std::unique_ptr<sandbox>>> made;
  for (int i = 0; i < 3; ++i)
    made.push_back(std::async(std::launch::async, [this] { return prepare(); }));
  std::vector<std::unique_ptr<sandbox>> boxes;
  for (auto& f : made)
    boxes.push_back(f.get());
  for (const auto& sb : boxes) {
    ASSERT_TRUE(sb);
    auto dir = "/proc/" + std::to_string(sb->pid()) + "/fd";
    std::error_code ec;
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      ++n;
      EXPECT_NE(fs::read_symlink(e.path(), ec), fs::path(marker)) << e.path();
    }
    ASSERT_FALSE(ec) << dir << ": " << ec.message();
    EXPECT_LT(n, 12u) << "the init of pid " << sb->pid() << " holds " << n << " descriptors";
  }
  for (int fd : held) {
    struct stat got {};
    ASSERT_EQ(::fstat(fd, &got), 0) << fd;
    EXPECT_EQ(got.st_ino, want.st_ino) << fd;
    ::close(fd);
  }
  ASSERT_TRUE(boxes[0]);
  auto o = run(shell("cat /var/task/hello.txt"));
  EXPECT_EQ(o.output, "hello from the task\n");
}

TEST_F(SandboxTest, NoCallbackAfterDestruction) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  auto called = std::make_shared<std::atomic<bool>>(false);
  sb->on_exit(io_, [called](int) { *called = true; });
  ASSERT_EQ(sb->start(shell("sleep 100")), "");
  sb.reset();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(*called);
}

TEST_F(SandboxTest, CallbackMayDestroyTheSandbox) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  // The owner must not destroy the sandbox while its own start() call still
  // runs: the program may exit (and the callback run) before start() returns.
  auto started = std::make_shared<std::promise<void>>();
  auto started_future = started->get_future().share();
  sandbox* raw = sb.get();
  raw->on_exit(io_, [&sb, done, started_future](int) {
    started_future.wait_for(wait_limit);
    sb.reset();
    done->set_value();
  });
  auto error = raw->start(shell("exit 0"));
  started->set_value();
  ASSERT_EQ(error, "");
  EXPECT_EQ(future.wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(entries(opts_.run_dir), 0u);
}

TEST_F(SandboxTest, ManyCyclesLeaveNothingBehind) {
  run(shell("true")); // warm-up: the io_context opens its epoll reactor's fds on first use
  std::size_t fds_before = open_fds();
  std::vector<double> prepare_ms, start_ms[2]; // start right away / once init waits
  for (int i = 0; i < 50; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto sb = prepare();
    prepare_ms.push_back(ms_since(t0));
    ASSERT_TRUE(sb);
    if (i % 2)
      std::this_thread::sleep_for(10ms);
    auto exited = std::make_shared<std::promise<int>>();
    auto status = exited->get_future();
    sb->on_exit(io_, [exited](int s) { exited->set_value(s); });
    auto spec = shell("");
    spec.argv = {"/usr/bin/true"};
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(sb->start(spec), "");
    start_ms[i % 2].push_back(ms_since(t1));
    ASSERT_EQ(status.wait_for(wait_limit), std::future_status::ready);
    EXPECT_EQ(status.get(), 0);
  }
  std::cout << "[ timing ] median of 50: prepare() " << median_ms(prepare_ms)
            << " ms; median of 25: start() right after prepare " << median_ms(start_ms[0])
            << " ms, start() once init waits " << median_ms(start_ms[1]) << " ms" << std::endl;
  EXPECT_EQ(open_fds(), fds_before);
  EXPECT_EQ(children_of(getpid()), std::vector<pid_t>{});
  EXPECT_EQ(entries(opts_.run_dir), 0u);
}

// ---- templates ----------------------------------------------------------------

/// A pre-started runtime in plain shell: ready on fd 3, takes the claim, runs `then`.
std::vector<std::string> prestarted_shell(const std::string& before, const std::string& then) {
  return {"/bin/sh", "-c", before + "; printf R >&3; cat <&3 > /tmp/claim; exec 3>&-; " + then};
}

TEST_F(SandboxTest, PrestartedRuntimeRunsBeforeTheCodeIsMounted) {
  opts_.prestart_argv = prestarted_shell("ls -A /var/task > /tmp/before; echo $$ > /tmp/pid",
                                         "cat /tmp/before; ls /var/task; test $$ = $(cat /tmp/pid)"
                                         " && echo same-process; tr '\\0' ' ' < /tmp/claim");
  opts_.prestart_env = {"PATH=/usr/bin:/bin"};
  auto sb = prepare();
  ASSERT_TRUE(sb);
  auto runtime = children_of(sb->pid());
  ASSERT_EQ(runtime.size(), 1u); // waiting already, before any claim
  auto o = run_in(*sb, spec_for({"/unused"}, {"A=1", "B=two words"}));
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.output, "hello.txt\nsame-process\n/unused  A=1 B=two words ");
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.status;
}

TEST_F(SandboxTest, ARuntimeThatDiesBeforeReadyFailsTheHealthCheck) {
  opts_.prestart_argv = {"/bin/sh", "-c", "echo cannot start; exit 3"};
  std::string error;
  EXPECT_EQ(sandbox::prepare(opts_, error), nullptr);
  EXPECT_NE(error.find("exit status 3"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot start"), std::string::npos) << error;
  EXPECT_EQ(entries(opts_.run_dir), 0u);
  EXPECT_EQ(children_of(getpid()), std::vector<pid_t>{});
}

TEST_F(SandboxTest, ATemplateThatDiesInStockIsNotAlive) {
  auto sb = prepare();
  ASSERT_TRUE(sb);
  EXPECT_TRUE(sb->alive());
  sb->kill();
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (sb->alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(sb->alive());
  EXPECT_NE(sb->start(shell("true")), "");
}

TEST_F(SandboxTest, EachSandboxRunsAsItsOwnUid) {
  opts_.uid_base = 300000;
  opts_.uid_count = 3;
  std::vector<std::unique_ptr<sandbox>> boxes;
  std::set<uint32_t> uids;
  for (int i = 0; i < 3; ++i) {
    boxes.push_back(prepare());
    ASSERT_TRUE(boxes.back());
    uids.insert(boxes.back()->uid());
  }
  EXPECT_EQ(uids, (std::set<uint32_t>{300000, 300001, 300002}));
  std::string error;
  EXPECT_EQ(sandbox::prepare(opts_, error), nullptr);
  EXPECT_NE(error.find("uids"), std::string::npos) << error;
  auto uid = boxes[1]->uid();
  auto o = run_in(*boxes[1], shell("id -u; id -g; grep sbx_user /etc/passwd | cut -d: -f1,3"));
  auto id = std::to_string(uid);
  EXPECT_EQ(o.output, id + "\n" + id + "\nsbx_user:" + id + "\n");
  boxes[1].reset(); // its tree is gone: the uid is free again
  auto again = prepare();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->uid(), uid);
}

TEST_F(SandboxTest, NeighboursCannotSeeReachOrSignalEachOther) {
  auto a = prepare();
  auto b = prepare();
  ASSERT_TRUE(a && b);
  int a_api = a->release_runtime_api_fd();
  int b_api = b->release_runtime_api_fd();
  ASSERT_GE(a_api, 0);
  ASSERT_GE(b_api, 0);
  auto a_exit = std::make_shared<std::promise<int>>();
  auto a_status = a_exit->get_future();
  a->on_exit(io_, [a_exit](int st) { a_exit->set_value(st); });
  ASSERT_EQ(a->start(shell("echo secret > /tmp/a-secret; sleep 30")), "");
  pid_t a_runtime = children_of(a->pid()).at(0);
  // B looks for A's /tmp, processes and Runtime API, and tries the network.
  auto o = run_in(*b, spec_for({"/usr/bin/python3", "-c",
                                "import os, socket\n"
                                "print(os.path.exists('/tmp/a-secret'))\n"
                                "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
                                "for pid in (" +
                                    std::to_string(a_runtime) + ", " + std::to_string(a->pid()) +
                                    "):\n"
                                    "  try: os.kill(pid, 0); print('signalled')\n"
                                    "  except ProcessLookupError: print('no such process')\n"
                                    "socket.create_connection(('127.0.0.1', 9001)).sendall(b'b')\n"
                                    "for host in ('10.0.0.1', '1.1.1.1'):\n"
                                    "  try: socket.create_connection((host, 80), 2); print('out')\n"
                                    "  except OSError as e: print(e.strerror)\n"}));
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.output, "False\n['1', '2']\nno such process\nno such process\n"
                      "Network is unreachable\nNetwork is unreachable\n");
  // B's connection went to B's own Runtime API, never to A's.
  pollfd p[2] = {{a_api, POLLIN, 0}, {b_api, POLLIN, 0}};
  ASSERT_EQ(poll(p, 2, 0), 1);
  EXPECT_FALSE(p[0].revents & POLLIN);
  EXPECT_TRUE(p[1].revents & POLLIN);
  a->kill();
  EXPECT_EQ(a_status.wait_for(wait_limit), std::future_status::ready);
  close(a_api);
  close(b_api);
}

/// Mount entries the host sees (a sandbox's mounts must never show here).
std::size_t host_mounts() {
  std::ifstream in{"/proc/self/mountinfo"};
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}, '\n'));
}

/// Instance cgroups this process made that still exist.
std::size_t own_cgroups() {
  std::string error;
  auto layout = troupe::runtime::host_cgroup_layout(error);
  if (!layout)
    return 0;
  std::size_t n = 0;
  auto mine = "sb-" + std::to_string(getpid()) + "-";
  for (const auto& dir : layout->troupe_dirs())
    for (auto& e : std::filesystem::directory_iterator(dir))
      n += e.path().filename().string().rfind(mine, 0) == 0;
  return n;
}

TEST_F(SandboxTest, ThousandLifetimesLeaveNoProcessMountCgroupOrNamespace) {
  run(shell("true")); // warm-up
  auto fds = open_fds();
  auto mounts = host_mounts();
  opts_.memory_bytes = 128ull << 20;
  opts_.pids_max = 16;
  for (int i = 0; i < 1000; ++i) {
    auto spec = shell("");
    spec.argv = {"/bin/sh", "-c", i % 2 ? "exit 0" : "sleep 30 & sleep 30"};
    auto sb = prepare();
    ASSERT_TRUE(sb);
    ASSERT_EQ(sb->start(spec), "");
    if (i % 2 == 0)
      sb->kill(); // teardown mid-run: the whole tree goes
  }
  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ(children_of(getpid()), std::vector<pid_t>{}); // no zombie, no orphan
  EXPECT_EQ(entries(opts_.run_dir), 0u);
  EXPECT_EQ(host_mounts(), mounts);
  EXPECT_EQ(own_cgroups(), 0u);
  // A namespace lives only while a process, an fd or a mount holds it: with no
  // child, no extra fd and no extra mount left, none of the sandboxes' remains.
  // (Counting the machine's namespaces would see other tests running beside us.)
}

} // namespace
