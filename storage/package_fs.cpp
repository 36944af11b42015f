// The package file system on libfuse3's low-level API. API 3.12 rather than
// 3.5: it is the first that lets the session loop run more than 10 threads,
// and every read waiting for a fetch holds one.
#define FUSE_USE_VERSION 312

#include "storage/package_fs.hpp"

#include "storage/detail/file_util.hpp"

#include <fuse_lowlevel.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using detail::valid_hex;

constexpr double cache_seconds = 86400; // content never changes: cache for good
constexpr unsigned max_threads = 64;    // requests served at once, blocked reads included
constexpr unsigned max_background = 64; // the kernel's readahead requests in flight
constexpr int max_stacked_mounts = 8;   // stale mounts removed at one mount point

/// The last '/'-separated component of `path`.
std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

/// The directory part of `path` ("" for the package root).
std::string_view parent_path(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

/// A package's tree as the kernel sees it: node 0 is the package's root
/// directory, node i + 1 is `index->entries[i]`.
struct package_tree {
  std::string digest;
  std::shared_ptr<const package_index> index;
  std::vector<std::vector<uint32_t>> children; ///< per node, sorted by name

  const package_entry* entry(uint32_t node) const {
    return node == 0 ? nullptr : &index->entries[node - 1];
  }
  bool is_dir(uint32_t node) const {
    return node == 0 || entry(node)->type == package_entry::kind::directory;
  }
  std::string_view name(uint32_t node) const { return base_name(entry(node)->path); }
  /// The child `name` of directory `dir`, or 0 (never a child).
  uint32_t child(uint32_t dir, std::string_view name) const {
    const auto& kids = children[dir];
    auto it =
        std::lower_bound(kids.begin(), kids.end(), name,
                         [this](uint32_t n, std::string_view s) { return this->name(n) < s; });
    return it != kids.end() && this->name(*it) == name ? *it : 0;
  }
};

/// Links every entry to its parent directory; an entry whose parent is not a
/// directory of the index (or which repeats a name) is left unreachable.
std::shared_ptr<const package_tree> make_tree(std::string digest,
                                              std::shared_ptr<const package_index> index) {
  auto tree = std::make_shared<package_tree>();
  tree->digest = std::move(digest);
  tree->index = std::move(index);
  const auto& entries = tree->index->entries;
  tree->children.resize(entries.size() + 1);
  std::unordered_map<std::string_view, uint32_t> dirs{{"", 0}};
  for (uint32_t i = 0; i < entries.size(); ++i) {
    auto parent = dirs.find(parent_path(entries[i].path));
    if (parent != dirs.end())
      tree->children[parent->second].push_back(i + 1);
    if (entries[i].type == package_entry::kind::directory)
      dirs.emplace(entries[i].path, i + 1);
  }
  for (auto& kids : tree->children) {
    auto by_name = [&](uint32_t a, uint32_t b) { return tree->name(a) < tree->name(b); };
    auto same_name = [&](uint32_t a, uint32_t b) { return tree->name(a) == tree->name(b); };
    std::stable_sort(kids.begin(), kids.end(), by_name);
    kids.erase(std::unique(kids.begin(), kids.end(), same_name), kids.end());
  }
  return tree;
}

/// Inode numbers: 1 is the root; package slot s, node n is ((s + 1) << 32) | n.
/// Slots are handed out once per package name and never reused, so a number
/// always means the same thing (content is immutable: nothing to forget).
class package_table {
public:
  static fuse_ino_t ino(uint32_t slot, uint32_t node) {
    return (static_cast<fuse_ino_t>(slot) + 1) << 32 | node;
  }
  /// The slot of `digest`, made (without a tree) if new.
  uint32_t slot_of(const std::string& digest) {
    std::lock_guard lock{mutex_};
    auto [it, added] = by_name_.emplace(digest, static_cast<uint32_t>(trees_.size()));
    if (added)
      trees_.emplace_back();
    return it->second;
  }
  /// The tree of `digest` if it was loaded, else nullptr.
  std::shared_ptr<const package_tree> find(const std::string& digest) const {
    std::lock_guard lock{mutex_};
    auto it = by_name_.find(digest);
    return it == by_name_.end() ? nullptr : trees_[it->second];
  }
  /// Keeps `tree` for its slot unless one is there already; the one kept.
  std::shared_ptr<const package_tree> install(uint32_t slot,
                                              std::shared_ptr<const package_tree> tree) {
    std::lock_guard lock{mutex_};
    if (!trees_[slot])
      trees_[slot] = std::move(tree);
    return trees_[slot];
  }
  /// The tree and node of a package inode, or a null tree.
  std::pair<std::shared_ptr<const package_tree>, uint32_t> resolve(fuse_ino_t ino) const {
    uint64_t slot = (ino >> 32) - 1;
    auto node = static_cast<uint32_t>(ino & 0xffffffffu);
    std::lock_guard lock{mutex_};
    if ((ino >> 32) == 0 || slot >= trees_.size() || !trees_[slot] ||
        node >= trees_[slot]->children.size())
      return {nullptr, 0};
    return {trees_[slot], node};
  }

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, uint32_t> by_name_;
  std::vector<std::shared_ptr<const package_tree>> trees_; ///< by slot; null until looked up
};

/// The path of `p` made absolute and without symlinks in its parent, so that
/// it reads as /proc/self/mountinfo spells it; the last component is not
/// touched (a dead mount there fails every stat).
std::string mount_path(const fs::path& p) {
  fs::path abs = fs::absolute(p).lexically_normal();
  if (abs.filename().empty())
    abs = abs.parent_path();
  std::error_code ec;
  fs::path parent = fs::canonical(abs.parent_path(), ec);
  return ec ? abs.string() : (parent / abs.filename()).string();
}

/// Undoes mountinfo's octal escapes (\040 for a space, ...).
std::string unescape_mountinfo(const std::string& s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// True when /proc/self/mountinfo lists a FUSE mount at `path`.
bool fuse_mounted_at(const std::string& path) {
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields{line};
    std::string id, parent, dev, root, point, field;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> field && field != "-") {
    }
    std::string type;
    fields >> type;
    if (unescape_mountinfo(point) == path && type.compare(0, 4, "fuse") == 0)
      return true;
  }
  return false;
}

/// Detaches the mounts a dead file system left at `path`; the error, or "".
std::string clear_stale_mounts(const std::string& path) {
  for (int i = 0; i < max_stacked_mounts; ++i) {
    struct stat st {};
    bool dead = fuse_mounted_at(path) || (::stat(path.c_str(), &st) != 0 && errno == ENOTCONN);
    if (!dead)
      return {};
    if (::umount2(path.c_str(), MNT_DETACH) != 0)
      return "cannot remove the stale mount at " + path + ": " + std::strerror(errno);
  }
  return "more than " + std::to_string(max_stacked_mounts) + " stale mounts at " + path;
}

} // namespace

struct package_fs::impl {
  impl(std::string path, package_source& src) : mountpoint(std::move(path)), source(src) {}

  fs::path mountpoint;
  package_source& source;
  package_table table;
  fuse_session* session = nullptr;
  fuse_loop_config* loop_config = nullptr;
  std::thread loop;
  std::mutex stop_mutex;
  bool stopped = false;
  std::atomic<uint64_t> lookups{0}, reads{0}, bytes_read{0}, read_errors{0};
  /// The kernel keeps files open without asking (FUSE_CAP_NO_OPEN_SUPPORT):
  /// set at init, read by the open that tells it so.
  std::atomic<bool> no_open{false};

  std::string start();
  void stop();
};

namespace {

using impl = package_fs::impl;

impl& self(fuse_req_t req) {
  return *static_cast<impl*>(fuse_req_userdata(req));
}

struct stat dir_attr(fuse_ino_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = S_IFDIR | 0755;
  st.st_nlink = 2;
  st.st_blksize = 4096;
  return st;
}

/// The attributes of node `node` of `tree` (uid, gid and times 0).
struct stat node_attr(fuse_ino_t ino, const package_tree& tree, uint32_t node) {
  if (tree.is_dir(node))
    return dir_attr(ino);
  const package_entry& e = *tree.entry(node);
  struct stat st = dir_attr(ino);
  st.st_nlink = 1;
  bool link = e.type == package_entry::kind::symlink;
  st.st_mode = link ? S_IFLNK | 0777 : S_IFREG | (e.mode & 07777);
  st.st_size = static_cast<off_t>(link ? e.target.size() : e.size);
  st.st_blocks = static_cast<blkcnt_t>((st.st_size + 511) / 512);
  return st;
}

void reply_entry(fuse_req_t req, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = cache_seconds;
  e.entry_timeout = cache_seconds;
  fuse_reply_entry(req, &e);
}

/// The tree of package `name`, asking the source if it was not loaded yet.
std::shared_ptr<const package_tree> load_package(impl& state, const std::string& name) {
  if (auto tree = state.table.find(name))
    return tree;
  std::shared_ptr<const package_index> index;
  try {
    index = state.source.index(name);
  } catch (...) {
  }
  if (!index)
    return nullptr;
  return state.table.install(state.table.slot_of(name), make_tree(name, std::move(index)));
}

void on_init(void* userdata, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
    conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  // Opening a file needs nothing from us (the mount is read-only, a
  // directory opens through opendir): where the kernel can, it stops
  // sending opens after the first is answered ENOSYS, and keeps the page
  // cache. Every cold start's exec of its code then costs no round trip.
  if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    static_cast<impl*>(userdata)->no_open = true;
  }
  conn->max_background = max_background;
  conn->congestion_threshold = max_background * 3 / 4;
}

void on_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  impl& state = self(req);
  ++state.lookups;
  if (parent == FUSE_ROOT_ID) {
    auto tree = valid_hex(name) ? load_package(state, name) : nullptr;
    if (!tree)
      return void(fuse_reply_err(req, ENOENT)); // not cached: it may come
    return reply_entry(req, dir_attr(package_table::ino(state.table.slot_of(name), 0)));
  }
  auto [tree, dir] = state.table.resolve(parent);
  if (!tree)
    return void(fuse_reply_err(req, ENOENT));
  if (!tree->is_dir(dir))
    return void(fuse_reply_err(req, ENOTDIR));
  uint32_t node = tree->child(dir, name);
  if (node == 0) { // a package never changes: its absences are cached too
    fuse_entry_param none{};
    none.entry_timeout = cache_seconds;
    return void(fuse_reply_entry(req, &none));
  }
  fuse_ino_t ino = (parent & ~fuse_ino_t{0xffffffffu}) | node;
  reply_entry(req, node_attr(ino, *tree, node));
}

void on_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino == FUSE_ROOT_ID) {
    struct stat st = dir_attr(ino);
    return void(fuse_reply_attr(req, &st, cache_seconds));
  }
  auto [tree, node] = self(req).table.resolve(ino);
  if (!tree)
    return void(fuse_reply_err(req, ENOENT));
  struct stat st = node_attr(ino, *tree, node);
  fuse_reply_attr(req, &st, cache_seconds);
}

void on_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto [tree, node] = self(req).table.resolve(ino);
  const package_entry* e = tree ? tree->entry(node) : nullptr;
  if (!e || e->type != package_entry::kind::symlink)
    return void(fuse_reply_err(req, tree ? EINVAL : ENOENT));
  fuse_reply_readlink(req, e->target.c_str());
}

void on_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (self(req).no_open)
    return void(fuse_reply_err(req, ENOSYS)); // and no more opens come
  auto [tree, node] = self(req).table.resolve(ino);
  if (!tree)
    return void(fuse_reply_err(req, ENOENT));
  if (tree->is_dir(node))
    return void(fuse_reply_err(req, EISDIR));
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
    return void(fuse_reply_err(req, EROFS));
  fi->keep_cache = 1;
  fi->direct_io = 0;
  fuse_reply_open(req, fi);
}

/// Asks the source for `length` bytes at `offset`: 0, or the errno to answer.
int read_source(impl& state, const std::string& digest, uint64_t offset, std::size_t length,
                char* out) {
  try {
    int rc = state.source.read(digest, offset, length, out);
    return rc > 0 ? rc : rc == 0 ? 0 : EIO;
  } catch (...) {
    return EIO;
  }
}

void on_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  impl& state = self(req);
  ++state.reads;
  auto [tree, node] = state.table.resolve(ino);
  const package_entry* e = tree ? tree->entry(node) : nullptr;
  if (!e || e->type != package_entry::kind::file)
    return void(fuse_reply_err(req, tree ? EISDIR : ENOENT));
  auto start = static_cast<uint64_t>(std::max<off_t>(off, 0));
  if (start >= e->size)
    return void(fuse_reply_buf(req, nullptr, 0));
  auto length = static_cast<std::size_t>(std::min<uint64_t>(size, e->size - start));
  std::unique_ptr<char[]> buf{new char[length]};
  if (int err = read_source(state, tree->digest, e->offset + start, length, buf.get())) {
    ++state.read_errors;
    return void(fuse_reply_err(req, err));
  }
  state.bytes_read += length;
  fuse_reply_buf(req, buf.get(), length);
}

/// One directory's listing, taken at opendir so that readdir's offsets hold.
struct listing {
  struct item {
    std::string name;
    fuse_ino_t ino;
    mode_t mode;
  };
  std::vector<item> items;
};

std::unique_ptr<listing> list_root(impl& state) {
  auto out = std::make_unique<listing>();
  out->items.push_back({".", FUSE_ROOT_ID, S_IFDIR});
  out->items.push_back({"..", FUSE_ROOT_ID, S_IFDIR});
  std::vector<std::string> names;
  try {
    names = state.source.packages();
  } catch (...) {
  }
  for (auto& name : names)
    if (valid_hex(name))
      out->items.push_back({name, package_table::ino(state.table.slot_of(name), 0), S_IFDIR});
  return out;
}

std::unique_ptr<listing> list_dir(fuse_ino_t ino, const package_tree& tree, uint32_t dir) {
  auto out = std::make_unique<listing>();
  out->items.push_back({".", ino, S_IFDIR});
  out->items.push_back({"..", FUSE_ROOT_ID, S_IFDIR}); // the kernel knows the real one
  fuse_ino_t base = ino & ~fuse_ino_t{0xffffffffu};
  for (uint32_t kid : tree.children[dir])
    out->items.push_back({std::string{tree.name(kid)}, base | kid,
                          static_cast<mode_t>(node_attr(base | kid, tree, kid).st_mode)});
  return out;
}

void on_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::unique_ptr<listing> list;
  if (ino == FUSE_ROOT_ID) {
    list = list_root(self(req));
  } else {
    auto [tree, node] = self(req).table.resolve(ino);
    if (!tree)
      return void(fuse_reply_err(req, ENOENT));
    if (!tree->is_dir(node))
      return void(fuse_reply_err(req, ENOTDIR));
    list = list_dir(ino, *tree, node);
  }
  fi->fh = reinterpret_cast<uint64_t>(list.get());
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  if (fuse_reply_open(req, fi) == 0)
    list.release(); // releasedir frees it
}

void on_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  const auto& items = reinterpret_cast<listing*>(fi->fh)->items;
  std::vector<char> buf(size);
  std::size_t used = 0;
  for (auto i = static_cast<std::size_t>(std::max<off_t>(off, 0)); i < items.size(); ++i) {
    struct stat st {};
    st.st_ino = items[i].ino;
    st.st_mode = items[i].mode;
    std::size_t n = fuse_add_direntry(req, buf.data() + used, size - used, items[i].name.c_str(),
                                      &st, static_cast<off_t>(i + 1));
    if (n > size - used)
      break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void on_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<listing*>(fi->fh);
  fuse_reply_err(req, 0);
}

void on_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = on_init;
  ops.lookup = on_lookup;
  ops.getattr = on_getattr;
  ops.readlink = on_readlink;
  ops.open = on_open;
  ops.read = on_read;
  ops.opendir = on_opendir;
  ops.readdir = on_readdir;
  ops.releasedir = on_releasedir;
  ops.statfs = on_statfs;
  return ops;
}

const fuse_lowlevel_ops ops = make_ops();

/// The mount options: read-only, open to the sandboxes' uids, permission
/// checks by the kernel from the modes.
constexpr const char* mount_options =
    "ro,allow_other,default_permissions,fsname=troupe-packages,subtype=troupe-packages";

} // namespace

std::string package_fs::impl::start() {
  std::string prog = "troupe-packages", dash_o = "-o", opts = mount_options;
  char* argv[] = {prog.data(), dash_o.data(), opts.data()};
  fuse_args args = FUSE_ARGS_INIT(3, argv);
  loop_config = fuse_loop_cfg_create();
  session = loop_config ? fuse_session_new(&args, &ops, sizeof ops, this) : nullptr;
  fuse_opt_free_args(&args);
  if (session && fuse_session_mount(session, mountpoint.c_str()) == 0) {
    fuse_loop_cfg_set_clone_fd(loop_config, 0);
    fuse_loop_cfg_set_max_threads(loop_config, max_threads);
    loop = std::thread([this] { fuse_session_loop_mt(session, loop_config); });
    return {};
  }
  stopped = true; // nothing to stop
  bool made = session != nullptr;
  if (session)
    fuse_session_destroy(session);
  fuse_loop_cfg_destroy(loop_config);
  return made ? "cannot mount FUSE at " + mountpoint.string() : "cannot start a FUSE session";
}

// Cutting the connection (MNT_FORCE makes FUSE abort it) fails whatever
// waits on the mount and wakes every worker blocked reading /dev/fuse
// (ENODEV), so the loop returns once the handlers running now return; a
// reply to an aborted request is dropped. Only then is the fd closed.
// (Should umount2 fail because someone else unmounted it lazily while a
// file on it was open, the join waits until that file is closed.)
void package_fs::impl::stop() {
  std::lock_guard lock{stop_mutex};
  if (stopped)
    return;
  stopped = true;
  fuse_session_exit(session);
  ::umount2(mountpoint.c_str(), MNT_FORCE | MNT_DETACH);
  loop.join();
  fuse_session_unmount(session); // closes the fd; the mount is gone already
  fuse_session_destroy(session);
  session = nullptr;
  fuse_loop_cfg_destroy(loop_config);
  loop_config = nullptr;
}

std::unique_ptr<package_fs> package_fs::mount(const std::filesystem::path& mountpoint,
                                              package_source& source, std::string* error) {
  auto fail = [error](std::string why) {
    if (error)
      *error = std::move(why);
    return std::unique_ptr<package_fs>{};
  };
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return fail(std::string{"FUSE is unavailable: /dev/fuse: "} + std::strerror(errno));
  ::close(fd);
  std::string path = mount_path(mountpoint);
  if (auto why = clear_stale_mounts(path); !why.empty())
    return fail(why);
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec)
    return fail("cannot create " + path + ": " + ec.message());
  auto state = std::make_unique<impl>(path, source);
  if (auto why = state->start(); !why.empty())
    return fail(why);
  return std::unique_ptr<package_fs>{new package_fs(std::move(state))};
}

bool package_fs::available() {
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;
  ::close(fd);
  return true;
}

package_fs::package_fs(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}

package_fs::~package_fs() {
  stop();
}

const std::filesystem::path& package_fs::mountpoint() const {
  return impl_->mountpoint;
}

std::filesystem::path package_fs::dir(const std::string& digest_hex) const {
  return impl_->mountpoint / digest_hex;
}

void package_fs::stop() {
  impl_->stop();
}

package_fs_stats package_fs::stats() const {
  return {impl_->lookups.load(), impl_->reads.load(), impl_->bytes_read.load(),
          impl_->read_errors.load()};
}

} // namespace troupe::storage
