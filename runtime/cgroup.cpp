#include "runtime/cgroup.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace troupe::runtime {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* troupe_dir_name = "troupe";
constexpr auto removal_patience = std::chrono::milliseconds(1000);
constexpr uint64_t max_cpu_weight = 10000;

/// Sleeps 50 µs, then twice as long each time, up to 1 ms: a killed process
/// usually leaves its cgroup within microseconds.
class backoff {
public:
  void wait() {
    std::this_thread::sleep_for(next_);
    next_ = std::min(next_ * 2, std::chrono::microseconds(1000));
  }

private:
  std::chrono::microseconds next_{50};
};

std::string errno_text(const std::string& step, int e = errno) {
  return step + ": " + std::strerror(e);
}

// ---- small file helpers -----------------------------------------------------

bool exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

/// Reads a small file whole; false (errno set) when it cannot be opened or read.
bool read_text(const std::string& path, std::string& out) {
  out.clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return true;
}

/// Writes `value` to a cgroup control file in one write(2). Returns "" or why not.
std::string write_text(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno_text("open " + path);
  ssize_t n;
  do
    n = write(fd, value.data(), value.size());
  while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n < 0)
    return errno_text("write " + value + " to " + path, e);
  return {};
}

std::optional<uint64_t> read_number(const std::string& path) {
  std::string text;
  if (!read_text(path, text) || text.empty() || text[0] < '0' || text[0] > '9')
    return std::nullopt;
  return std::strtoull(text.c_str(), nullptr, 10);
}

std::vector<pid_t> read_pids(const std::string& procs_file) {
  std::vector<pid_t> out;
  std::string text;
  if (!read_text(procs_file, text))
    return out;
  const char* p = text.c_str();
  for (char* end; *p != '\0'; p = end) {
    long v = std::strtol(p, &end, 10);
    if (end == p)
      break;
    if (v > 0)
      out.push_back(static_cast<pid_t>(v));
  }
  return out;
}

/// Subdirectory names of `dir` (none when it cannot be listed).
std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d)
    return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..")
      out.push_back(name);
  }
  closedir(d);
  return out;
}

bool make_dir(const std::string& path, bool exist_ok, std::string& error) {
  if (mkdir(path.c_str(), 0755) == 0 || (exist_ok && errno == EEXIST))
    return true;
  error = errno_text("mkdir " + path);
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

/// Sends SIGKILL to `pid` only if it is (still) a member of a cgroup ending in
/// `suffix`: the pidfd pins the process, so a recycled pid is never signalled.
void kill_member(pid_t pid, const std::string& suffix) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0u));
  if (pidfd < 0)
    return;
  std::string text;
  if (read_text("/proc/" + std::to_string(pid) + "/cgroup", text)) {
    for (const auto& entry : parse_proc_cgroup(text)) {
      const auto& path = entry.path;
      if (path.size() >= suffix.size() &&
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0u);
        break;
      }
    }
  }
  close(pidfd);
}

// ---- v2 controller delegation ---------------------------------------------

/// The controllers of `needed` missing from the list in `file`, as "+a +b".
std::string missing_controllers(const std::string& file, const std::vector<std::string>& needed) {
  std::string text, out;
  read_text(file, text);
  for (const auto& c : needed)
    if (!lists_controller(text, c))
      out += (out.empty() ? "+" : " +") + c;
  return out;
}

/// Makes `needed` available to the children of the `troupe` directory: enabled
/// in <own>/cgroup.subtree_control (only if missing there) and in
/// <own>/troupe/cgroup.subtree_control.
bool enable_v2_controllers(const cgroup_layout& layout, const std::vector<std::string>& needed,
                           std::string& error) {
  std::string missing =
      missing_controllers(join_cgroup_path(layout.memory, "cgroup.controllers"), needed);
  if (!missing.empty()) {
    std::string own_controllers = join_cgroup_path(layout.own, "cgroup.controllers");
    if (auto absent = missing_controllers(own_controllers, needed); !absent.empty()) {
      error = absent + " not in " + own_controllers + " (not delegated to the node's cgroup)";
      return false;
    }
    std::string own_control = join_cgroup_path(layout.own, "cgroup.subtree_control");
    if (std::string e = write_text(own_control, missing); !e.empty()) {
      error = e + " (cgroup v2 refuses this while " + layout.own +
              " holds processes, such as the node: instance cgroups beneath the node's own"
              " cgroup need it to be the root cgroup or to have these controllers enabled"
              " in its subtree_control already)";
      return false;
    }
  }
  std::string troupe_control = join_cgroup_path(layout.memory, "cgroup.subtree_control");
  missing = missing_controllers(troupe_control, needed);
  std::string e = missing.empty() ? "" : write_text(troupe_control, missing);
  if (!e.empty())
    error = e;
  return e.empty();
}

// ---- the instances this process owns ----------------------------------------

std::mutex live_mu;
std::multiset<std::string> live_names; ///< instances created here and not yet destroyed

void set_live(const std::string& name, bool live) {
  std::lock_guard<std::mutex> lock(live_mu);
  if (live)
    live_names.insert(name);
  else if (auto it = live_names.find(name); it != live_names.end())
    live_names.erase(it);
}

bool is_live_here(const std::string& name) {
  std::lock_guard<std::mutex> lock(live_mu);
  return live_names.count(name) != 0;
}

bool is_stale(const std::string& name) {
  auto owner = instance_owner(name);
  if (!owner)
    return false; // not named by Troupe: not ours to remove
  if (*owner == getpid())
    return !is_live_here(name);
  return ::kill(*owner, 0) < 0 && errno == ESRCH;
}

} // namespace

// ---- pure planning ------------------------------------------------------------

std::vector<std::string> cgroup_layout::troupe_dirs() const {
  std::vector<std::string> out;
  for (const std::string* d : {&memory, &pids, &cpu})
    if (!d->empty() && std::find(out.begin(), out.end(), *d) == out.end())
      out.push_back(*d);
  return out;
}

std::vector<proc_cgroup_entry> parse_proc_cgroup(std::string_view text) {
  std::vector<proc_cgroup_entry> out;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos || c1 == 0)
      continue;
    std::string_view id = line.substr(0, c1);
    if (!std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    proc_cgroup_entry e;
    e.hierarchy_id = std::atoi(std::string(id).c_str());
    std::string_view list = line.substr(c1 + 1, c2 - c1 - 1);
    while (!list.empty()) {
      auto comma = list.find(',');
      if (comma != 0)
        e.controllers.emplace_back(list.substr(0, comma));
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
    e.path = std::string(line.substr(c2 + 1));
    if (e.path.empty() || e.path[0] != '/')
      continue;
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::string> own_cgroup_path(const std::vector<proc_cgroup_entry>& entries,
                                           std::string_view controller) {
  for (const auto& e : entries) {
    bool match = controller.empty() ? e.hierarchy_id == 0 && e.controllers.empty()
                                    : std::find(e.controllers.begin(), e.controllers.end(),
                                                controller) != e.controllers.end();
    if (match)
      return e.path;
  }
  return std::nullopt;
}

std::string join_cgroup_path(std::string_view a, std::string_view b) {
  while (!a.empty() && a.back() == '/')
    a.remove_suffix(1);
  while (!b.empty() && b.front() == '/')
    b.remove_prefix(1);
  while (!b.empty() && b.back() == '/')
    b.remove_suffix(1);
  if (b.empty())
    return a.empty() ? "/" : std::string(a);
  return std::string(a) + "/" + std::string(b);
}

bool lists_controller(std::string_view list, std::string_view controller) {
  while (!list.empty()) {
    auto start = list.find_first_not_of(" \t\n");
    if (start == std::string_view::npos)
      return false;
    list.remove_prefix(start);
    auto end = list.find_first_of(" \t\n");
    if (list.substr(0, end) == controller)
      return true;
    list.remove_prefix(end == std::string_view::npos ? list.size() : end);
  }
  return false;
}

std::optional<uint64_t> keyed_counter(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        std::isspace(static_cast<unsigned char>(line[key.size()]))) {
      std::string value(trim(line.substr(key.size())));
      if (value.empty() || value[0] < '0' || value[0] > '9')
        return std::nullopt;
      return std::strtoull(value.c_str(), nullptr, 10);
    }
  }
  return std::nullopt;
}

uint64_t cpu_shares_for_weight(uint64_t weight) {
  return std::max<uint64_t>(2, weight * 1024 / 100);
}

std::optional<cgroup_layout> plan_cgroup_layout(const cgroup_host_view& host, std::string& error) {
  auto entries = parse_proc_cgroup(host.proc_self_cgroup);
  /// <mount>/<own path>/troupe, or "" (and `error` set) when there is no own path.
  auto beneath = [&](std::string_view mount, std::string_view controller, std::string& why) {
    auto own = own_cgroup_path(entries, controller);
    if (!own || own->find("/..") != std::string::npos) {
      why = "no usable " + std::string(controller.empty() ? "cgroup v2 (0::)" : controller) +
            " line in /proc/self/cgroup";
      return std::string();
    }
    return join_cgroup_path(join_cgroup_path(mount, *own), troupe_dir_name);
  };
  cgroup_layout layout;
  const auto& v2 = host.v2_root_controllers;
  if (v2 && lists_controller(*v2, "memory") && lists_controller(*v2, "pids")) {
    layout.version = cgroup_version::v2;
    layout.memory = layout.pids = beneath(host.root, "", error);
    if (layout.memory.empty())
      return std::nullopt;
    layout.own = layout.memory.substr(0, layout.memory.rfind('/'));
    if (lists_controller(*v2, "cpu"))
      layout.cpu = layout.memory;
    return layout;
  }
  layout.version = cgroup_version::v1;
  if (!host.v1_memory_mounted || !host.v1_pids_mounted) {
    error = "no cgroup v2 with memory and pids at " + host.root +
            "/cgroup.controllers, and no v1 " + (host.v1_memory_mounted ? "pids" : "memory") +
            " mount at " + host.root + "/" + (host.v1_memory_mounted ? "pids" : "memory");
    return std::nullopt;
  }
  layout.memory = beneath(join_cgroup_path(host.root, "memory"), "memory", error);
  layout.pids = beneath(join_cgroup_path(host.root, "pids"), "pids", error);
  if (layout.memory.empty() || layout.pids.empty())
    return std::nullopt;
  std::string no_cpu; // cpu is optional: without it, only a cpu weight is refused
  if (host.v1_cpu_mounted)
    layout.cpu = beneath(join_cgroup_path(host.root, "cpu"), "cpu", no_cpu);
  return layout;
}

std::vector<cgroup_write> limit_writes(const cgroup_layout& layout, const std::string& name,
                                       const cgroup_limits& limits) {
  auto file = [&](const std::string& troupe_dir, const char* leaf) {
    return join_cgroup_path(join_cgroup_path(troupe_dir, name), leaf);
  };
  std::vector<cgroup_write> out;
  bool v2 = layout.version == cgroup_version::v2;
  if (limits.memory_bytes > 0) {
    std::string bytes = std::to_string(limits.memory_bytes);
    if (v2) {
      out.push_back({file(layout.memory, "memory.max"), bytes});
      out.push_back({file(layout.memory, "memory.swap.max"), "0", true});
    } else {
      out.push_back({file(layout.memory, "memory.limit_in_bytes"), bytes});
      out.push_back({file(layout.memory, "memory.memsw.limit_in_bytes"), bytes, true});
      out.push_back({file(layout.memory, "memory.swappiness"), "0"});
    }
  }
  if (limits.pids_max > 0)
    out.push_back({file(layout.pids, "pids.max"), std::to_string(limits.pids_max)});
  if (limits.cpu_weight > 0) {
    uint64_t value = v2 ? limits.cpu_weight : cpu_shares_for_weight(limits.cpu_weight);
    out.push_back({file(layout.cpu, v2 ? "cpu.weight" : "cpu.shares"), std::to_string(value)});
  }
  return out;
}

bool valid_instance_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\n') == std::string_view::npos;
}

std::optional<pid_t> instance_owner(std::string_view name) {
  auto last = name.rfind('-');
  if (last == std::string_view::npos || last == 0)
    return std::nullopt;
  auto first = name.rfind('-', last - 1);
  if (first == std::string_view::npos || first == 0)
    return std::nullopt;
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 10 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string_view pid = name.substr(first + 1, last - first - 1);
  if (!digits(pid) || !digits(name.substr(last + 1)))
    return std::nullopt;
  long v = std::strtol(std::string(pid).c_str(), nullptr, 10);
  if (v <= 0 || v > 0x3fffffff)
    return std::nullopt;
  return static_cast<pid_t>(v);
}

// ---- the host -----------------------------------------------------------------

std::optional<cgroup_layout> host_cgroup_layout(std::string& error) {
  struct detected {
    std::optional<cgroup_layout> layout;
    std::string error;
  };
  static const detected host = [] {
    detected d;
    cgroup_host_view view;
    if (!read_text("/proc/self/cgroup", view.proc_self_cgroup)) {
      d.error = errno_text("read /proc/self/cgroup");
      return d;
    }
    std::string controllers;
    if (read_text(view.root + "/cgroup.controllers", controllers))
      view.v2_root_controllers = controllers;
    view.v1_memory_mounted = exists(view.root + "/memory/cgroup.procs");
    view.v1_pids_mounted = exists(view.root + "/pids/cgroup.procs");
    view.v1_cpu_mounted = exists(view.root + "/cpu/cgroup.procs");
    d.layout = plan_cgroup_layout(view, d.error);
    return d;
  }();
  if (!host.layout)
    error = host.error;
  return host.layout;
}

// ---- instance_cgroup --------------------------------------------------------------

/// Limits this host cannot honour: "" or why.
static std::string check_limits(const cgroup_layout& layout, const cgroup_limits& limits) {
  if (limits.cpu_weight > max_cpu_weight)
    return "cpu weight " + std::to_string(limits.cpu_weight) + " outside 1..10000";
  if (limits.cpu_weight > 0 && layout.cpu.empty())
    return "cpu weight requested, but this host has no cpu cgroup controller";
  return {};
}

std::unique_ptr<instance_cgroup> instance_cgroup::create(const cgroup_layout& layout,
                                                         const std::string& name,
                                                         const cgroup_limits& limits,
                                                         std::string& error) {
  if (!valid_instance_name(name)) {
    error = "invalid cgroup name '" + name + "'";
    return nullptr;
  }
  if (error = check_limits(layout, limits); !error.empty())
    return nullptr;
  std::unique_ptr<instance_cgroup> cg(new instance_cgroup());
  cg->version_ = layout.version;
  cg->name_ = name;
  set_live(name, true); // before mkdir: remove_stale_cgroups() must not take it
  for (const auto& troupe_dir : layout.troupe_dirs())
    if (!make_dir(troupe_dir, true, error))
      return nullptr;
  if (layout.version == cgroup_version::v2) {
    std::vector<std::string> needed{"memory", "pids"};
    if (limits.cpu_weight > 0)
      needed.push_back("cpu");
    if (!enable_v2_controllers(layout, needed, error))
      return nullptr;
  }
  for (const auto& troupe_dir : layout.troupe_dirs()) {
    std::string dir = join_cgroup_path(troupe_dir, name);
    if (!make_dir(dir, false, error))
      return nullptr; // the destructor removes the directories made so far
    cg->dirs_.push_back(dir);
  }
  cg->layout_ = layout;
  error = cg->set_limits(limits);
  return error.empty() ? std::move(cg) : nullptr;
}

std::string instance_cgroup::set_limits(const cgroup_limits& limits) {
  if (auto e = check_limits(layout_, limits); !e.empty())
    return e;
  for (const auto& w : limit_writes(layout_, name_, limits)) {
    if (w.optional && !exists(w.path))
      continue;
    if (std::string e = write_text(w.path, w.value); !e.empty())
      return e;
  }
  return {};
}

std::string instance_cgroup::add(pid_t pid) {
  for (const auto& dir : dirs_)
    if (std::string e = write_text(dir + "/cgroup.procs", std::to_string(pid)); !e.empty())
      return e;
  return {};
}

bool instance_cgroup::kill_all(std::chrono::milliseconds patience) {
  auto deadline = clock_type::now() + patience;
  std::string kill_file = dirs_.empty() ? "" : dirs_[0] + "/cgroup.kill";
  bool kill_file_exists = version_ == cgroup_version::v2 && exists(kill_file);
  std::string suffix = std::string("/") + troupe_dir_name + "/" + name_;
  backoff pause;
  for (;;) {
    std::set<pid_t> members; // v1: a process is listed once per hierarchy
    for (const auto& dir : dirs_)
      for (pid_t p : read_pids(dir + "/cgroup.procs"))
        members.insert(p);
    if (members.empty())
      return true;
    if (kill_file_exists)
      write_text(kill_file, "1");
    else
      for (pid_t p : members)
        kill_member(p, suffix);
    if (clock_type::now() >= deadline)
      return false;
    pause.wait();
  }
}

bool instance_cgroup::oom_killed() const {
  if (dirs_.empty())
    return false;
  std::string text;
  if (version_ == cgroup_version::v2) {
    read_text(dirs_[0] + "/memory.events", text);
    return keyed_counter(text, "oom_kill").value_or(0) > 0;
  }
  read_text(dirs_[0] + "/memory.oom_control", text);
  if (auto kills = keyed_counter(text, "oom_kill"))
    return *kills > 0;
  return read_number(dirs_[0] + "/memory.failcnt").value_or(0) > 0; // kernels before 4.13
}

uint64_t instance_cgroup::peak_memory_bytes() const {
  if (dirs_.empty())
    return 0;
  if (peak_fd_ < 0) {
    const char* leaf =
        version_ == cgroup_version::v2 ? "/memory.peak" : "/memory.max_usage_in_bytes";
    peak_fd_ = ::open((dirs_[0] + leaf).c_str(), O_RDONLY | O_CLOEXEC);
    if (peak_fd_ < 0)
      return 0;
  }
  char text[32];
  ssize_t n = ::pread(peak_fd_, text, sizeof text - 1, 0); // offset 0: the kernel reads anew
  if (n <= 0 || text[0] < '0' || text[0] > '9')
    return 0;
  text[n] = '\0';
  return std::strtoull(text, nullptr, 10);
}

instance_cgroup::~instance_cgroup() {
  if (peak_fd_ >= 0)
    ::close(peak_fd_); // an open file would not keep the cgroup from going
  try {
    auto deadline = clock_type::now() + removal_patience;
    kill_all(removal_patience);
    backoff pause;
    for (const auto& dir : dirs_) {
      while (rmdir(dir.c_str()) < 0 && errno == EBUSY && clock_type::now() < deadline) {
        kill_all();
        pause.wait();
      }
    }
    set_live(name_, false);
  } catch (...) {
    // a destructor reports nothing; what is left is stale for the next node
  }
}

std::size_t remove_stale_cgroups(const cgroup_layout& layout, std::string& error) {
  std::set<std::string> names;
  for (const auto& troupe_dir : layout.troupe_dirs())
    for (auto& name : subdirectories(troupe_dir))
      if (is_stale(name))
        names.insert(std::move(name));
  std::size_t removed = 0;
  for (const auto& name : names) {
    std::unique_ptr<instance_cgroup> cg(new instance_cgroup());
    cg->version_ = layout.version;
    cg->name_ = name;
    for (const auto& troupe_dir : layout.troupe_dirs())
      if (std::string dir = join_cgroup_path(troupe_dir, name); exists(dir))
        cg->dirs_.push_back(dir);
    auto dirs = cg->dirs_;
    cg.reset(); // kills and removes
    bool gone = std::none_of(dirs.begin(), dirs.end(), exists);
    removed += gone ? 1 : 0;
    if (!gone)
      error += (error.empty() ? "could not remove stale cgroup " : ", ") + name;
  }
  return removed;
}

} // namespace troupe::runtime
