#include "tests/runtime/sandbox_fixture.hpp"

#include "runtime/cgroup.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace troupe::runtime;
using namespace troupe::test;

namespace {

constexpr uint64_t mib = 1 << 20;

const char* host_v1_sample = "9:name=systemd:/\n"
                             "8:pids:/\n"
                             "7:blkio:/\n"
                             "4:memory:/process_api/05eaf5c9\n"
                             "2:cpuacct:/\n"
                             "1:cpu:/\n"
                             "0::/\n";

std::string first_line(const std::string& path) {
  std::string s = slurp(path);
  return s.substr(0, s.find('\n'));
}

// ---- pure planning ---------------------------------------------------------------

TEST(CgroupPlan, ParsesHybridProcCgroup) {
  auto entries = parse_proc_cgroup(host_v1_sample);
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries[0].hierarchy_id, 9);
  EXPECT_EQ(entries[0].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_EQ(own_cgroup_path(entries, "memory"), "/process_api/05eaf5c9");
  EXPECT_EQ(own_cgroup_path(entries, "pids"), "/");
  EXPECT_EQ(own_cgroup_path(entries, ""), "/");
  EXPECT_EQ(own_cgroup_path(entries, "hugetlb"), std::nullopt);
}

TEST(CgroupPlan, ParsesV2OnlyAndCoMountedControllers) {
  auto v2 = parse_proc_cgroup("0::/some/path\n");
  ASSERT_EQ(v2.size(), 1u);
  EXPECT_EQ(v2[0].hierarchy_id, 0);
  EXPECT_TRUE(v2[0].controllers.empty());
  EXPECT_EQ(own_cgroup_path(v2, ""), "/some/path");
  EXPECT_EQ(own_cgroup_path(v2, "memory"), std::nullopt);
  auto co = parse_proc_cgroup("3:cpu,cpuacct:/a/b\n2:net_cls,net_prio:/\n");
  EXPECT_EQ(own_cgroup_path(co, "cpuacct"), "/a/b");
  EXPECT_EQ(own_cgroup_path(co, "cpu"), "/a/b");
  EXPECT_EQ(own_cgroup_path(co, "net_prio"), "/");
}

TEST(CgroupPlan, SkipsMalformedLines) {
  auto entries = parse_proc_cgroup("garbage\nx:memory:/a\n5:memory\n6:pids:relative\n\n"
                                   "7:pids:/ok/path with space\n");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, "/ok/path with space");
}

TEST(CgroupPlan, JoinsPaths) {
  EXPECT_EQ(join_cgroup_path("/sys/fs/cgroup/memory", "/"), "/sys/fs/cgroup/memory");
  EXPECT_EQ(join_cgroup_path("/sys/fs/cgroup/", "/a/b/"), "/sys/fs/cgroup/a/b");
  EXPECT_EQ(join_cgroup_path("/sys/fs/cgroup", "troupe"), "/sys/fs/cgroup/troupe");
  EXPECT_EQ(join_cgroup_path("/", "/"), "/");
}

TEST(CgroupPlan, V1LayoutIsBeneathOwnCgroupPerController) {
  cgroup_host_view host;
  host.proc_self_cgroup = host_v1_sample;
  std::string error;
  auto layout = plan_cgroup_layout(host, error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->version, cgroup_version::v1);
  EXPECT_EQ(layout->memory, "/sys/fs/cgroup/memory/process_api/05eaf5c9/troupe");
  EXPECT_EQ(layout->pids, "/sys/fs/cgroup/pids/troupe");
  EXPECT_EQ(layout->cpu, "/sys/fs/cgroup/cpu/troupe");
  EXPECT_EQ(layout->troupe_dirs().size(), 3u);
}

TEST(CgroupPlan, V1WithoutCpuOrMemory) {
  cgroup_host_view host;
  host.proc_self_cgroup = host_v1_sample;
  host.v1_cpu_mounted = false;
  std::string error;
  auto layout = plan_cgroup_layout(host, error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->cpu, "");
  EXPECT_EQ(error, "");
  host.v1_memory_mounted = false;
  EXPECT_FALSE(plan_cgroup_layout(host, error));
  EXPECT_NE(error.find("/sys/fs/cgroup/memory"), std::string::npos) << error;
  host.v1_memory_mounted = true;
  host.proc_self_cgroup = "8:pids:/\n0::/\n";
  EXPECT_FALSE(plan_cgroup_layout(host, error));
  EXPECT_NE(error.find("memory"), std::string::npos) << error;
}

TEST(CgroupPlan, V2LayoutIsOneDirectoryBeneathOwnCgroup) {
  cgroup_host_view host;
  host.proc_self_cgroup = "0::/system.slice/troupe-node.service\n";
  host.v2_root_controllers = "cpuset cpu io memory hugetlb pids rdma misc\n";
  std::string error;
  auto layout = plan_cgroup_layout(host, error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->version, cgroup_version::v2);
  std::string troupe = "/sys/fs/cgroup/system.slice/troupe-node.service/troupe";
  EXPECT_EQ(layout->memory, troupe);
  EXPECT_EQ(layout->pids, troupe);
  EXPECT_EQ(layout->cpu, troupe);
  EXPECT_EQ(layout->own, "/sys/fs/cgroup/system.slice/troupe-node.service");
  EXPECT_EQ(layout->troupe_dirs(), std::vector<std::string>{troupe});

  host.proc_self_cgroup = "0::/\n";
  host.v2_root_controllers = "memory pids";
  layout = plan_cgroup_layout(host, error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->memory, "/sys/fs/cgroup/troupe");
  EXPECT_EQ(layout->own, "/sys/fs/cgroup");
  EXPECT_EQ(layout->cpu, "");
}

TEST(CgroupPlan, V2WithoutMemoryFallsBackToV1) {
  cgroup_host_view host;
  host.proc_self_cgroup = host_v1_sample;
  host.v2_root_controllers = "hugetlb\n"; // like /sys/fs/cgroup/unified here
  std::string error;
  auto layout = plan_cgroup_layout(host, error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->version, cgroup_version::v1);
  host.proc_self_cgroup = "0::/a\n";
  EXPECT_FALSE(plan_cgroup_layout(host, error));
}

TEST(CgroupPlan, LimitWritesPerVersion) {
  cgroup_layout v1{cgroup_version::v1, "/m/troupe", "/p/troupe", "/c/troupe", ""};
  cgroup_limits limits{128 * mib, 16, 50};
  auto w = limit_writes(v1, "sb-1-2", limits);
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0].path, "/m/troupe/sb-1-2/memory.limit_in_bytes");
  EXPECT_EQ(w[0].value, "134217728");
  EXPECT_EQ(w[1].path, "/m/troupe/sb-1-2/memory.memsw.limit_in_bytes");
  EXPECT_TRUE(w[1].optional);
  EXPECT_EQ(w[2].path, "/m/troupe/sb-1-2/memory.swappiness");
  EXPECT_EQ(w[2].value, "0");
  EXPECT_EQ(w[3].path, "/p/troupe/sb-1-2/pids.max");
  EXPECT_EQ(w[3].value, "16");
  EXPECT_EQ(w[4].path, "/c/troupe/sb-1-2/cpu.shares");
  EXPECT_EQ(w[4].value, "512");

  cgroup_layout v2{cgroup_version::v2, "/u/troupe", "/u/troupe", "/u/troupe", "/u"};
  w = limit_writes(v2, "sb-1-2", limits);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].path, "/u/troupe/sb-1-2/memory.max");
  EXPECT_EQ(w[1].path, "/u/troupe/sb-1-2/memory.swap.max");
  EXPECT_EQ(w[1].value, "0");
  EXPECT_EQ(w[2].path, "/u/troupe/sb-1-2/pids.max");
  EXPECT_EQ(w[3].path, "/u/troupe/sb-1-2/cpu.weight");
  EXPECT_EQ(w[3].value, "50");

  EXPECT_TRUE(limit_writes(v2, "x", cgroup_limits{}).empty());
  EXPECT_EQ(limit_writes(v1, "x", cgroup_limits{0, 3, 0}).size(), 1u);
}

TEST(CgroupPlan, CpuSharesFromWeight) {
  EXPECT_EQ(cpu_shares_for_weight(100), 1024u);
  EXPECT_EQ(cpu_shares_for_weight(10000), 102400u);
  EXPECT_EQ(cpu_shares_for_weight(1), 10u);
  EXPECT_EQ(cpu_shares_for_weight(0), 2u);
}

TEST(CgroupPlan, CountersAndControllerLists) {
  std::string events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
  EXPECT_EQ(keyed_counter(events, "oom_kill"), 2u);
  EXPECT_EQ(keyed_counter(events, "oom"), 3u);
  EXPECT_EQ(keyed_counter(events, "oom_group"), std::nullopt);
  EXPECT_EQ(keyed_counter("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"), std::nullopt);
  EXPECT_EQ(keyed_counter("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "oom_kill"), 1u);
  EXPECT_TRUE(lists_controller("cpuset cpu io memory pids\n", "cpu"));
  EXPECT_TRUE(lists_controller("cpuset cpu io memory pids\n", "pids"));
  EXPECT_FALSE(lists_controller("cpuset io memory\n", "cpu"));
  EXPECT_FALSE(lists_controller("", "memory"));
}

TEST(CgroupPlan, InstanceNamesAndOwners) {
  EXPECT_EQ(instance_owner("sb-123-4"), 123);
  EXPECT_EQ(instance_owner("a-b-77-0"), 77);
  EXPECT_EQ(instance_owner("sb-x-4"), std::nullopt);
  EXPECT_EQ(instance_owner("123-4"), std::nullopt);
  EXPECT_EQ(instance_owner("sb-123-"), std::nullopt);
  EXPECT_EQ(instance_owner("web"), std::nullopt);
  EXPECT_TRUE(valid_instance_name("sb-1-2"));
  EXPECT_FALSE(valid_instance_name(".."));
  EXPECT_FALSE(valid_instance_name("a/b"));
  EXPECT_FALSE(valid_instance_name(""));
}

// ---- real cgroups (as root on this host) -----------------------------------------

/// A child that waits until it is killed; reaped (bounded) by reap().
struct child_process {
  pid_t pid = fork();
  child_process() {
    if (pid == 0) {
      for (;;)
        pause();
    }
  }
  ~child_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      reap();
    }
  }
  /// The wait status, or -2 if it did not exit in time.
  int reap() {
    auto deadline = std::chrono::steady_clock::now() + wait_limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return status;
      }
      std::this_thread::sleep_for(1ms);
    }
    return -2;
  }
};

class CgroupTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root";
    std::string error;
    auto layout = host_cgroup_layout(error);
    ASSERT_TRUE(layout) << error;
    layout_ = *layout;
  }

  /// Whatever a failed test left behind (names of this process that are no
  /// longer live) is removed here.
  void TearDown() override {
    std::string error;
    if (!layout_.memory.empty())
      remove_stale_cgroups(layout_, error);
  }

  std::string unique_name() {
    static int n = 0;
    return "cgtest-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  }

  /// Entries of the troupe directories starting with `prefix`.
  std::vector<std::string> leftovers(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& dir : layout_.troupe_dirs()) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename().string().rfind(prefix, 0) == 0)
          out.push_back(e.path().string());
    }
    return out;
  }

  bool v1() const { return layout_.version == cgroup_version::v1; }

  cgroup_layout layout_;
};

TEST_F(CgroupTest, LimitsAreWrittenAndReadBack) {
  std::string error;
  auto cg = instance_cgroup::create(layout_, unique_name(), {128 * mib, 16, 200}, error);
  ASSERT_TRUE(cg) << error;
  auto dirs = cg->dirs();
  ASSERT_EQ(dirs.size(), layout_.troupe_dirs().size());
  const std::string& mem = dirs[0];
  const std::string& pids = dirs[v1() ? 1 : 0];
  const std::string& cpu = dirs[v1() ? 2 : 0];
  if (v1()) {
    EXPECT_EQ(first_line(mem + "/memory.limit_in_bytes"), "134217728");
    if (fs::exists(mem + "/memory.memsw.limit_in_bytes")) {
      EXPECT_EQ(first_line(mem + "/memory.memsw.limit_in_bytes"), "134217728");
    }
    EXPECT_EQ(first_line(mem + "/memory.swappiness"), "0");
    EXPECT_EQ(first_line(cpu + "/cpu.shares"), "2048");
  } else {
    EXPECT_EQ(first_line(mem + "/memory.max"), "134217728");
    EXPECT_EQ(first_line(cpu + "/cpu.weight"), "200");
  }
  EXPECT_EQ(first_line(pids + "/pids.max"), "16");
  EXPECT_FALSE(cg->oom_killed());
  EXPECT_EQ(cg->peak_memory_bytes(), 0u);
  cg.reset();
  for (const auto& d : dirs)
    EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(CgroupTest, BadLimitsAreRefusedAndLeaveNothing) {
  std::string error;
  std::string name = unique_name();
  EXPECT_FALSE(instance_cgroup::create(layout_, name, {0, 0, 10001}, error));
  EXPECT_NE(error.find("10001"), std::string::npos) << error;
  EXPECT_FALSE(instance_cgroup::create(layout_, "../escape", {mib, 0, 0}, error));
  EXPECT_NE(error.find("../escape"), std::string::npos) << error;
  // a limit the kernel refuses: the error names the file
  EXPECT_FALSE(instance_cgroup::create(layout_, name, {0, 10'000'000, 0}, error));
  EXPECT_NE(error.find(name + "/pids.max"), std::string::npos) << error;
  EXPECT_EQ(leftovers(name), std::vector<std::string>{});
  // a name in use is refused, and the first instance is untouched
  auto first = instance_cgroup::create(layout_, name, {0, 4, 0}, error);
  ASSERT_TRUE(first) << error;
  EXPECT_FALSE(instance_cgroup::create(layout_, name, {0, 4, 0}, error));
  EXPECT_NE(error.find("mkdir"), std::string::npos) << error;
  EXPECT_EQ(remove_stale_cgroups(layout_, error), 0u) << "a live instance is not stale";
  for (const auto& d : first->dirs())
    EXPECT_TRUE(fs::exists(d)) << d;
  first.reset();
  EXPECT_EQ(leftovers(name), std::vector<std::string>{});
}

TEST_F(CgroupTest, AddedProcessIsInsideAndDestructionKillsIt) {
  std::string error;
  std::string name = unique_name();
  auto cg = instance_cgroup::create(layout_, name, {64 * mib, 8, 0}, error);
  ASSERT_TRUE(cg) << error;
  child_process child;
  ASSERT_GT(child.pid, 0);
  ASSERT_EQ(cg->add(child.pid), "");
  auto own = parse_proc_cgroup(slurp("/proc/" + std::to_string(child.pid) + "/cgroup"));
  auto mem = own_cgroup_path(own, v1() ? "memory" : "");
  ASSERT_TRUE(mem);
  EXPECT_NE(mem->find("/troupe/" + name), std::string::npos) << *mem;
  EXPECT_EQ(first_line(cg->dirs()[0] + "/cgroup.procs"), std::to_string(child.pid));
  auto dirs = cg->dirs();
  auto t0 = std::chrono::steady_clock::now();
  cg.reset();
  double destroy_ms = ms_since(t0);
  int status = child.reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_LT(destroy_ms, 900) << "the destructor waited for the cgroup to empty";
  for (const auto& d : dirs)
    EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(CgroupTest, KillAllEmptiesATreeThatForks) {
  std::string error;
  auto cg = instance_cgroup::create(layout_, unique_name(), {0, 64, 0}, error);
  ASSERT_TRUE(cg) << error;
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    (void)!read(go[0], &c, 1);
    execl("/bin/sh", "sh", "-c", "while true; do sleep 100 & sleep 0.01; done", nullptr);
    _exit(127);
  }
  close(go[0]);
  ASSERT_EQ(cg->add(pid), "");
  close(go[1]);
  std::this_thread::sleep_for(100ms);
  EXPECT_GT(slurp(cg->dirs()[0] + "/cgroup.procs").size(), 0u);
  EXPECT_TRUE(cg->kill_all(1000ms));
  EXPECT_EQ(slurp(cg->dirs()[0] + "/cgroup.procs"), "");
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_F(CgroupTest, StaleCgroupsOfDeadNodesAreRemoved) {
  pid_t dead = fork();
  if (dead == 0)
    _exit(0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  std::string stale = "sb-" + std::to_string(dead) + "-0";
  std::string error;
  auto live = instance_cgroup::create(layout_, unique_name(), {0, 8, 0}, error);
  ASSERT_TRUE(live) << error;
  child_process child;
  for (const auto& dir : layout_.troupe_dirs()) {
    ASSERT_TRUE(fs::create_directory(dir + "/" + stale)) << dir;
    std::ofstream(dir + "/" + stale + "/cgroup.procs") << child.pid << std::flush;
  }
  std::string other = "not-troupe"; // no owner in the name: never touched
  fs::create_directory(layout_.troupe_dirs()[0] + "/" + other);
  EXPECT_GE(remove_stale_cgroups(layout_, error), 1u);
  EXPECT_EQ(error, "");
  EXPECT_EQ(leftovers(stale), std::vector<std::string>{});
  int status = child.reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const auto& d : live->dirs())
    EXPECT_TRUE(fs::exists(d)) << d;
  EXPECT_TRUE(fs::exists(layout_.troupe_dirs()[0] + "/" + other));
  fs::remove(layout_.troupe_dirs()[0] + "/" + other);
}

TEST_F(CgroupTest, CostOfCreateAddDestroy) {
  std::vector<double> bare, with_process;
  std::string error;
  for (int i = 0; i < 50; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto cg = instance_cgroup::create(layout_, unique_name(), {128 * mib, 64, 100}, error);
    ASSERT_TRUE(cg) << error;
    cg.reset();
    bare.push_back(ms_since(t0));
  }
  for (int i = 0; i < 50; ++i) {
    child_process child;
    auto t0 = std::chrono::steady_clock::now();
    auto cg = instance_cgroup::create(layout_, unique_name(), {128 * mib, 64, 100}, error);
    ASSERT_TRUE(cg) << error;
    ASSERT_EQ(cg->add(child.pid), "");
    cg.reset(); // kills the child, waits until the cgroup is empty, removes it
    with_process.push_back(ms_since(t0));
  }
  std::cout << "[ timing ] median of 50: create+destroy " << median_ms(bare)
            << " ms; create+add+destroy (kills the process) " << median_ms(with_process) << " ms"
            << std::endl;
  EXPECT_EQ(leftovers("cgtest-" + std::to_string(getpid()) + "-"), std::vector<std::string>{});
}

// ---- sandboxes with limits ---------------------------------------------------------

class CgroupSandboxTest : public sandbox_fixture<CgroupTest> {
protected:
  CgroupSandboxTest() : sandbox_fixture("troupe-cgroup-test") {}

  /// A template with these cgroup limits (0: that one unlimited).
  std::unique_ptr<troupe::runtime::sandbox> prepare(uint64_t memory, uint64_t pids,
                                                    uint32_t cpu = 0) {
    opts_.memory_bytes = memory;
    opts_.pids_max = pids;
    opts_.cpu_weight = cpu;
    return sandbox_fixture::prepare();
  }

  sandbox_spec spec(std::vector<std::string> argv) const {
    return spec_for(std::move(argv), {"PATH=/usr/bin:/bin"});
  }

  sandbox_spec shell(const std::string& script) const { return spec({"/bin/sh", "-c", script}); }

  /// The cgroup directories of process `pid` inside the troupe directories.
  std::vector<std::string> troupe_cgroups_of(pid_t pid) const {
    auto entries = parse_proc_cgroup(slurp("/proc/" + std::to_string(pid) + "/cgroup"));
    std::vector<std::string> out;
    auto add = [&](const std::string& troupe_dir, std::string_view controller) {
      auto path = own_cgroup_path(entries, controller);
      auto name = path ? path->substr(path->rfind('/') + 1) : "";
      if (path && path->find("/troupe/") != std::string::npos)
        out.push_back(join_cgroup_path(troupe_dir, name));
    };
    if (v1()) {
      add(layout_.memory, "memory");
      add(layout_.pids, "pids");
      add(layout_.cpu, "cpu");
    } else {
      add(layout_.memory, "");
    }
    return out;
  }
};

TEST_F(CgroupSandboxTest, SandboxRunsInsideItsCgroupWhichDestructionRemoves) {
  auto sb = prepare(128 * mib, 16, 300);
  ASSERT_TRUE(sb);
  auto dirs = troupe_cgroups_of(sb->pid());
  ASSERT_EQ(dirs.size(), v1() ? 3u : 1u);
  // A template yields the CPU (the least weight) until it is claimed.
  EXPECT_EQ(first_line(dirs[v1() ? 2 : 0] + (v1() ? "/cpu.shares" : "/cpu.weight")),
            v1() ? "10" : "1");
  ASSERT_EQ(sb->start(spec({"/bin/sleep", "100"})), "");
  dirs = troupe_cgroups_of(sb->pid());
  ASSERT_EQ(dirs.size(), v1() ? 3u : 1u);
  for (const auto& d : dirs) {
    EXPECT_NE(d.find("/troupe/sb-" + std::to_string(getpid()) + "-"), std::string::npos) << d;
    EXPECT_TRUE(fs::exists(d)) << d;
  }
  EXPECT_EQ(first_line(dirs[0] + (v1() ? "/memory.limit_in_bytes" : "/memory.max")), "134217728");
  EXPECT_EQ(first_line(dirs[v1() ? 1 : 0] + "/pids.max"), "16");
  EXPECT_EQ(first_line(dirs[v1() ? 2 : 0] + (v1() ? "/cpu.shares" : "/cpu.weight")),
            v1() ? "3072" : "300");
  sb.reset();
  for (const auto& d : dirs)
    EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(CgroupSandboxTest, OverTheMemoryLimitTheProgramIsOomKilled) {
  auto sb = prepare(128 * mib, 0);
  ASSERT_TRUE(sb);
  auto o = run_in(*sb, spec({"/usr/bin/python3", "-c",
                             "b = bytearray(300 * 1024 * 1024)\n"
                             "for i in range(0, len(b), 4096): b[i] = 1\n"
                             "print('survived')"}));
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL) << o.status << o.output;
  EXPECT_TRUE(sb->oom_killed());
  EXPECT_GT(sb->peak_memory_bytes(), 100 * mib);
  EXPECT_LE(sb->peak_memory_bytes(), 128 * mib);
}

TEST_F(CgroupSandboxTest, UnderTheMemoryLimitNothingIsFlagged) {
  auto sb = prepare(128 * mib, 0);
  ASSERT_TRUE(sb);
  EXPECT_LT(sb->peak_memory_bytes(), 30 * mib); // read before, then after: not a stale value
  auto o = run_in(*sb, spec({"/usr/bin/python3", "-c",
                             "b = bytearray(30 * 1024 * 1024)\n"
                             "for i in range(0, len(b), 4096): b[i] = 1\n"
                             "print('survived')"}));
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.status << o.output;
  EXPECT_EQ(o.output, "survived\n");
  EXPECT_FALSE(sb->oom_killed());
  EXPECT_GT(sb->peak_memory_bytes(), 30 * mib);
}

TEST_F(CgroupSandboxTest, PidsLimitStopsAForkBomb) {
  auto sb = prepare(0, 16);
  ASSERT_TRUE(sb);
  auto o = run_in(*sb, shell("for i in $(seq 50); do sleep 5 & echo started; done; wait"));
  EXPECT_EQ(o.error, "");
  std::istringstream lines(o.output);
  int started = 0;
  for (std::string line; std::getline(lines, line);)
    started += line == "started" ? 1 : 0;
  EXPECT_GT(started, 0) << o.output;
  EXPECT_LT(started, 16) << o.output;
  EXPECT_NE(o.output.find("fork"), std::string::npos) << o.output;
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) != 0) << o.status; // sh gave up
  // the host is unaffected: it still forks
  pid_t p = fork();
  if (p == 0)
    _exit(0);
  ASSERT_GT(p, 0);
  EXPECT_EQ(waitpid(p, nullptr, 0), p);
}

TEST_F(CgroupSandboxTest, KillEndsEverythingInTheCgroup) {
  auto sb = prepare(0, 16);
  ASSERT_TRUE(sb);
  auto exited = std::make_shared<std::promise<int>>();
  auto status = exited->get_future();
  sb->on_exit(io_, [exited](int st) { exited->set_value(st); });
  ASSERT_EQ(sb->start(shell("sleep 100 & sleep 100 & sleep 100")), "");
  auto dirs = troupe_cgroups_of(sb->pid());
  ASSERT_FALSE(dirs.empty());
  auto members = [&] {
    std::string procs = slurp(dirs[0] + "/cgroup.procs");
    return std::count(procs.begin(), procs.end(), '\n');
  };
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (members() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_GE(members(), 3);
  sb->kill();
  ASSERT_EQ(status.wait_for(wait_limit), std::future_status::ready);
  int st = status.get();
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
  EXPECT_EQ(slurp(dirs[0] + "/cgroup.procs"), "");
}

TEST_F(CgroupSandboxTest, ACgroupThatCannotBeMadeFailsPrepare) {
  opts_.cpu_weight = 20000;
  std::string error;
  EXPECT_EQ(troupe::runtime::sandbox::prepare(opts_, error), nullptr);
  EXPECT_NE(error.find("cgroup"), std::string::npos) << error;
  EXPECT_NE(error.find("20000"), std::string::npos) << error;
  EXPECT_EQ(children_of(getpid()), std::vector<pid_t>{});
  EXPECT_EQ(leftovers("sb-" + std::to_string(getpid()) + "-"), std::vector<std::string>{});
}

TEST_F(CgroupSandboxTest, HundredSandboxesLeaveNoCgroups) {
  std::string mine = "sb-" + std::to_string(getpid()) + "-";
  std::vector<double> run_ms[2]; // without / with a cgroup
  for (int i = 0; i < 100 + 20; ++i) {
    bool limited = i < 100;
    auto sb = prepare(limited ? 64 * mib : 0, limited ? 32 : 0, limited ? 100 : 0);
    ASSERT_TRUE(sb);
    auto t0 = std::chrono::steady_clock::now();
    auto o = run_in(*sb, spec({"/usr/bin/true"}));
    ASSERT_EQ(o.error, "");
    ASSERT_EQ(o.status, 0);
    sb.reset();
    run_ms[limited].push_back(ms_since(t0));
  }
  std::cout << "[ timing ] start() until exit and destruction: median of 100 with a cgroup "
            << median_ms(run_ms[1]) << " ms, of 20 without " << median_ms(run_ms[0]) << " ms"
            << std::endl;
  EXPECT_EQ(leftovers(mine), std::vector<std::string>{});
}

} // namespace
