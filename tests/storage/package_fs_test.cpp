#include "storage/package_fs.hpp"
#include "tests/storage/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <poll.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string pkg_a(64, 'a');
const std::string pkg_b(64, 'b');
const std::string pkg_c(64, 'c');

/// Builds a package_index and its content by hand (chunk digests are not
/// needed by the file system and left out).
class index_builder {
public:
  index_builder& file(std::string path, std::string data, uint32_t mode = 0644) {
    package_entry e;
    e.path = std::move(path);
    e.mode = mode;
    e.size = data.size();
    files_[e.path] = std::move(data);
    entries_.push_back(std::move(e));
    return *this;
  }
  index_builder& dir(std::string path) {
    package_entry e;
    e.path = std::move(path);
    e.type = package_entry::kind::directory;
    e.mode = 0755;
    entries_.push_back(std::move(e));
    return *this;
  }
  index_builder& link(std::string path, std::string target) {
    package_entry e;
    e.path = std::move(path);
    e.type = package_entry::kind::symlink;
    e.mode = 0777;
    e.size = target.size();
    e.target = std::move(target);
    entries_.push_back(std::move(e));
    return *this;
  }
  /// Sorts the entries and lays the files' bytes out in index order.
  std::pair<package_index, std::string> build() {
    package_index index;
    std::string content;
    index.entries = entries_;
    std::sort(index.entries.begin(), index.entries.end(),
              [](const package_entry& a, const package_entry& b) { return a.path < b.path; });
    for (auto& e : index.entries) {
      if (e.type != package_entry::kind::file)
        continue;
      e.offset = content.size();
      content += files_[e.path];
    }
    index.content_bytes = content.size();
    return {std::move(index), std::move(content)};
  }

private:
  std::vector<package_entry> entries_;
  std::map<std::string, std::string> files_;
};

/// An in-memory package_source. Reads touching a "failing" byte range get
/// EIO; reads touching a "blocking" range wait until release() (or 20 s).
class fake_source : public package_source {
public:
  void add(const std::string& digest, std::pair<package_index, std::string> built) {
    std::lock_guard lock{mutex_};
    indexes_[digest] = std::make_shared<const package_index>(std::move(built.first));
    contents_[digest] = std::move(built.second);
  }
  /// Hides `digest` from packages() (index() still answers).
  void unlist(const std::string& digest) {
    std::lock_guard lock{mutex_};
    unlisted_.push_back(digest);
  }
  void fail_file(const std::string& digest, const std::string& path) {
    std::lock_guard lock{mutex_};
    failing_ = range_of(digest, path);
  }
  void block_file(const std::string& digest, const std::string& path) {
    std::lock_guard lock{mutex_};
    blocking_ = range_of(digest, path);
  }
  /// Waits until a read is blocked; false after `timeout`.
  bool wait_blocked(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return cv_.wait_for(lock, timeout, [&] { return blocked_ > 0; });
  }
  void release() {
    std::lock_guard lock{mutex_};
    released_ = true;
    cv_.notify_all();
  }
  int index_calls() const { return index_calls_; }

  std::shared_ptr<const package_index> index(const std::string& digest) override {
    ++index_calls_;
    std::lock_guard lock{mutex_};
    auto it = indexes_.find(digest);
    return it == indexes_.end() ? nullptr : it->second;
  }
  std::vector<std::string> packages() override {
    std::lock_guard lock{mutex_};
    std::vector<std::string> out;
    for (auto& [digest, index] : indexes_)
      if (std::find(unlisted_.begin(), unlisted_.end(), digest) == unlisted_.end())
        out.push_back(digest);
    return out;
  }
  int read(const std::string& digest, uint64_t offset, std::size_t length, char* out) override {
    std::unique_lock lock{mutex_};
    if (touches(failing_, digest, offset, length))
      return EIO;
    if (touches(blocking_, digest, offset, length)) {
      ++blocked_;
      cv_.notify_all();
      cv_.wait_for(lock, 20s, [&] { return released_; });
      --blocked_;
    }
    const std::string& content = contents_[digest];
    if (offset + length > content.size())
      return EIO;
    std::memcpy(out, content.data() + offset, length);
    return 0;
  }

private:
  struct range {
    std::string digest;
    uint64_t begin = 0, end = 0;
  };
  range range_of(const std::string& digest, const std::string& path) {
    for (auto& e : indexes_[digest]->entries)
      if (e.path == path)
        return {digest, e.offset, e.offset + e.size};
    return {};
  }
  static bool touches(const range& r, const std::string& digest, uint64_t offset, std::size_t n) {
    return r.digest == digest && offset < r.end && offset + n > r.begin;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<const package_index>> indexes_;
  std::map<std::string, std::string> contents_;
  std::vector<std::string> unlisted_;
  range failing_, blocking_;
  int blocked_ = 0;
  bool released_ = false;
  std::atomic<int> index_calls_{0};
};

/// True when /proc/self/mountinfo lists a mount at `path`.
bool mounted_at(const fs::path& path) {
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields{line};
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point == path.string())
      return true;
  }
  return false;
}

/// Detaches whatever a failed test left mounted at `path`.
class mount_guard {
public:
  explicit mount_guard(fs::path path) : path_(std::move(path)) {}
  ~mount_guard() {
    for (int i = 0; i < 8 && mounted_at(path_); ++i)
      ::umount2(path_.c_str(), MNT_DETACH);
  }
  mount_guard(const mount_guard&) = delete;
  mount_guard& operator=(const mount_guard&) = delete;

private:
  fs::path path_;
};

std::string big_data() {
  std::string s(300 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < s.size(); ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

/// `length` bytes at `offset` of `path` by pread(2); errno as "E<n>" on failure.
std::string pread_at(const fs::path& path, off_t offset, std::size_t length) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return "E" + std::to_string(errno);
  std::string buf(length, '\0');
  ssize_t n = ::pread(fd, buf.data(), length, offset);
  int err = errno;
  ::close(fd);
  if (n < 0)
    return "E" + std::to_string(err);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

/// The errno of a failed call, or 0.
int err_of(int rc) {
  return rc < 0 ? errno : 0;
}

class PackageFs : public ::testing::Test {
protected:
  void SetUp() override {
    if (!package_fs::available())
      GTEST_SKIP() << "FUSE is unavailable here (/dev/fuse does not open)";
    source_.add(pkg_a, index_builder{}
                           .dir("bin")
                           .file("bin/run", "#!/bin/sh\necho hi\n", 0755)
                           .file("hello.txt", "hello, world\n")
                           .file("big.bin", big_data())
                           .dir("lib")
                           .dir("lib/python")
                           .file("lib/python/mod.py", "X = 1\n")
                           .link("link", "hello.txt")
                           .file("broken.txt", "never seen\n")
                           .file("slow.txt", "worth the wait\n")
                           .build());
    source_.add(pkg_b, index_builder{}.file("only.txt", "b\n").build());
  }
  void TearDown() override {
    source_.release();
    pfs_.reset(); // cuts the connection: every background call on the mount returns
    for (auto& t : background_)
      t.join();
  }

  fs::path mnt() const { return tmp_.path() / "mnt"; }
  fs::path a(const std::string& rel = {}) const {
    return rel.empty() ? mnt() / pkg_a : mnt() / pkg_a / rel;
  }

  bool mount() {
    std::string error;
    pfs_ = package_fs::mount(mnt(), source_, &error);
    EXPECT_TRUE(pfs_) << error;
    return pfs_ != nullptr;
  }

  /// Runs `f` on a thread joined at teardown; its result arrives on the future.
  template <class F> std::future<std::string> in_background(F f) {
    auto done = std::make_shared<std::promise<std::string>>();
    auto result = done->get_future();
    background_.emplace_back([done, f] { done->set_value(f()); });
    return result;
  }

  test::temp_dir tmp_;
  mount_guard guard_{tmp_.path() / "mnt"};
  fake_source source_;
  std::unique_ptr<package_fs> pfs_;
  std::vector<std::thread> background_;
};

TEST_F(PackageFs, RootListsThePackages) {
  ASSERT_TRUE(mount());
  EXPECT_EQ(pfs_->mountpoint(), mnt());
  EXPECT_EQ(pfs_->dir(pkg_a), a());
  EXPECT_EQ(test::tree(mnt()).size(), 13u); // 2 packages, 10 entries of a, 1 of b
  std::vector<std::string> names;
  for (auto& entry : fs::directory_iterator(mnt()))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{pkg_a, pkg_b}));
}

TEST_F(PackageFs, StatGivesTypesSizesModesAndOwner) {
  ASSERT_TRUE(mount());
  struct stat st {};
  ASSERT_EQ(::stat(a("hello.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_size, 13);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  ASSERT_EQ(::stat(a("bin/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_size, 18);
  ASSERT_EQ(::stat(a("big.bin").c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), big_data().size());
  for (auto dir : {a(), a("bin"), a("lib/python")}) {
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0755u) << dir;
  }
  ASSERT_EQ(::lstat(a("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 9);
}

TEST_F(PackageFs, ReadsWholeFilesAndAtOffsets) {
  ASSERT_TRUE(mount());
  EXPECT_EQ(test::read_file(a("hello.txt")), "hello, world\n");
  EXPECT_EQ(test::read_file(a("bin/run")), "#!/bin/sh\necho hi\n");
  const std::string big = big_data();
  EXPECT_EQ(test::read_file(a("big.bin")), big);
  for (std::size_t off : {std::size_t{1}, std::size_t{4095}, std::size_t{131071},
                          std::size_t{200000}, big.size() - 10})
    EXPECT_EQ(pread_at(a("big.bin"), static_cast<off_t>(off), 5000), big.substr(off, 5000)) << off;
  EXPECT_EQ(pread_at(a("hello.txt"), 7, 100), "world\n");
  EXPECT_EQ(pread_at(a("hello.txt"), 13, 10), "");
  EXPECT_EQ(pread_at(a("hello.txt"), 1000, 10), "");
  auto stats = pfs_->stats();
  EXPECT_GT(stats.reads, 0u);
  EXPECT_GE(stats.bytes_read, big.size() + 13);
  EXPECT_GT(stats.lookups, 0u);
  EXPECT_EQ(stats.read_errors, 0u);
}

TEST_F(PackageFs, ShowsNestedDirectories) {
  ASSERT_TRUE(mount());
  EXPECT_EQ(test::tree(a()),
            (std::vector<std::string>{"big.bin", "bin", "bin/run", "broken.txt", "hello.txt", "lib",
                                      "lib/python", "lib/python/mod.py", "link", "slow.txt"}));
  EXPECT_EQ(test::read_file(a("lib/python/mod.py")), "X = 1\n");
  EXPECT_EQ(test::tree(mnt() / pkg_b), (std::vector<std::string>{"only.txt"}));
}

TEST_F(PackageFs, SymlinkReadsItsTarget) {
  ASSERT_TRUE(mount());
  EXPECT_EQ(fs::read_symlink(a("link")), "hello.txt");
  EXPECT_EQ(test::read_file(a("link")), "hello, world\n");
}

TEST_F(PackageFs, UnknownNamesAreAbsentAndNewPackagesAppear) {
  ASSERT_TRUE(mount());
  struct stat st {};
  EXPECT_EQ(err_of(::stat(a("nope").c_str(), &st)), ENOENT);
  EXPECT_EQ(err_of(::stat(a("bin/nope").c_str(), &st)), ENOENT);
  EXPECT_EQ(err_of(::stat(a("hello.txt/x").c_str(), &st)), ENOTDIR);
  int calls = source_.index_calls();
  EXPECT_EQ(err_of(::stat((mnt() / "not-a-digest").c_str(), &st)), ENOENT);
  EXPECT_EQ(source_.index_calls(), calls); // not a package name: the source is not asked
  EXPECT_EQ(err_of(::stat((mnt() / pkg_c).c_str(), &st)), ENOENT);
  EXPECT_GT(source_.index_calls(), calls);
  // A package the node learns of later shows up (absences in the root are not cached),
  // even when it is not listed.
  source_.add(pkg_c, index_builder{}.file("new.txt", "new\n").build());
  source_.unlist(pkg_c);
  EXPECT_EQ(test::read_file(mnt() / pkg_c / "new.txt"), "new\n");
}

TEST_F(PackageFs, SourceErrorReachesTheReaderAndOthersStillWork) {
  source_.fail_file(pkg_a, "broken.txt");
  ASSERT_TRUE(mount());
  int fd = ::open(a("broken.txt").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  char buf[64];
  EXPECT_EQ(::read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EIO);
  ::close(fd);
  EXPECT_GT(pfs_->stats().read_errors, 0u);
  EXPECT_EQ(test::read_file(a("hello.txt")), "hello, world\n");
}

TEST_F(PackageFs, ReadBlockedInTheSourceBlocksOnlyItself) {
  source_.block_file(pkg_a, "slow.txt");
  ASSERT_TRUE(mount());
  auto slow = in_background([this] { return pread_at(a("slow.txt"), 0, 100); });
  ASSERT_TRUE(source_.wait_blocked(10s));
  auto other = in_background([this] { return test::read_file(a("hello.txt")); });
  ASSERT_EQ(other.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(other.get(), "hello, world\n");
  auto listing = in_background([this] { return std::to_string(test::tree(a("lib")).size()); });
  ASSERT_EQ(listing.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(listing.get(), "2");
  EXPECT_EQ(slow.wait_for(100ms), std::future_status::timeout);
  source_.release();
  ASSERT_EQ(slow.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(slow.get(), "worth the wait\n");
}

TEST_F(PackageFs, StopWithAReadBlockedInTheSourceFailsTheReaderAndWaitsForTheSource) {
  source_.block_file(pkg_a, "slow.txt");
  ASSERT_TRUE(mount());
  auto slow = in_background([this] { return pread_at(a("slow.txt"), 0, 100); });
  ASSERT_TRUE(source_.wait_blocked(10s));
  auto stopped = in_background([this] {
    pfs_->stop();
    return std::string{"stopped"};
  });
  ASSERT_EQ(slow.wait_for(10s), std::future_status::ready);
  std::string got = slow.get();
  EXPECT_TRUE(got == "E" + std::to_string(ENOTCONN) || got == "E" + std::to_string(ECONNABORTED) ||
              got == "E" + std::to_string(EIO))
      << got;
  EXPECT_FALSE(mounted_at(mnt()));
  EXPECT_EQ(stopped.wait_for(200ms), std::future_status::timeout); // the source still has it
  source_.release();
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  pfs_->stop(); // idempotent
}

/// Waits up to `timeout` for `child` to exit (then kills it); its exit status, or -1.
int wait_child(pid_t child, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(PackageFs, OtherUsersCanRead) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to become another user";
  fs::permissions(tmp_.path(), fs::perms(0755)); // mkdtemp made it 0700
  ASSERT_TRUE(mount());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) { // as nobody: 1 if it cannot switch, 2 if the read is wrong
    if (::setgid(65534) != 0 || ::setuid(65534) != 0)
      ::_exit(1);
    ::_exit(test::read_file(a("bin/run")) == "#!/bin/sh\necho hi\n" ? 0 : 2);
  }
  EXPECT_EQ(wait_child(child, 10s), 0);
}

TEST_F(PackageFs, WritesAndCreatesFail) {
  ASSERT_TRUE(mount());
  auto refused = [](int rc) { return rc < 0 && (errno == EROFS || errno == EACCES); };
  EXPECT_TRUE(refused(::open(a("hello.txt").c_str(), O_WRONLY)));
  EXPECT_TRUE(refused(::open(a("hello.txt").c_str(), O_RDWR)));
  EXPECT_TRUE(refused(::open(a("hello.txt").c_str(), O_RDONLY | O_TRUNC)));
  EXPECT_TRUE(refused(::open(a("new.txt").c_str(), O_WRONLY | O_CREAT, 0644)));
  EXPECT_TRUE(refused(::open((mnt() / "new.txt").c_str(), O_WRONLY | O_CREAT, 0644)));
  EXPECT_TRUE(refused(::mkdir(a("newdir").c_str(), 0755)));
  EXPECT_TRUE(refused(::unlink(a("hello.txt").c_str())));
  EXPECT_TRUE(refused(::chmod(a("hello.txt").c_str(), 0777)));
  EXPECT_TRUE(refused(::symlink("x", a("newlink").c_str())));
  EXPECT_TRUE(refused(::rename(a("hello.txt").c_str(), a("moved.txt").c_str())));
  EXPECT_EQ(test::read_file(a("hello.txt")), "hello, world\n");
}

TEST_F(PackageFs, DestructionUnmounts) {
  ASSERT_TRUE(mount());
  EXPECT_TRUE(mounted_at(mnt()));
  EXPECT_EQ(test::read_file(a("hello.txt")), "hello, world\n");
  pfs_->stop();
  EXPECT_FALSE(mounted_at(mnt()));
  pfs_.reset();
  EXPECT_FALSE(mounted_at(mnt()));
  EXPECT_TRUE(fs::is_directory(mnt())); // the mount point itself stays, empty
  EXPECT_TRUE(fs::is_empty(mnt()));
}

TEST_F(PackageFs, MountRemovesAStaleMountOfADeadProcess) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) { // mounts, says so, and waits to be killed
    std::string error;
    auto mounted = package_fs::mount(mnt(), source_, &error);
    char ok = mounted ? '1' : '0';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  pollfd pfd{ready[0], POLLIN, 0};
  char ok = '0';
  bool said = ::poll(&pfd, 1, 10000) == 1 && ::read(ready[0], &ok, 1) == 1;
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(said && ok == '1') << "the child did not mount";
  struct stat st {};
  EXPECT_EQ(err_of(::stat(mnt().c_str(), &st)), ENOTCONN);
  ASSERT_TRUE(mount());
  EXPECT_EQ(test::read_file(a("hello.txt")), "hello, world\n");
  pfs_.reset();
  EXPECT_FALSE(mounted_at(mnt()));
}

TEST_F(PackageFs, MountFailureIsReported) {
  std::ofstream{tmp_.path() / "file"} << "x";
  std::string error;
  auto pfs = package_fs::mount(tmp_.path() / "file" / "mnt", source_, &error);
  EXPECT_FALSE(pfs);
  EXPECT_FALSE(error.empty());
}

} // namespace
} // namespace troupe::storage
