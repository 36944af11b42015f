#include "actors/package_agent.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"
#include "storage/package_fs.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <random>

namespace troupe {

namespace {

namespace fs = std::filesystem;

/// The agent's full interface: what its host and peers see, plus the fetches
/// the cache hands it (from the FUSE view's threads or its own), the end of
/// a prepare (a package's index or whole content became local, or failed),
/// and its holdings report tick.
using agent_impl = package_agent_actor::extend<
    caf::reacts_to<fetch_atom, uint64_t /*id*/, std::string /*digest*/,
                   int64_t /*chunk, -1: index*/, int32_t /*attempt*/>,
    caf::reacts_to<prepare_atom, std::string /*digest*/, std::string /*error*/>,
    caf::reacts_to<pkg_held_atom>>;

/// The cache's fetcher: every fetch becomes a message to the agent, which
/// picks a source and asks it; the answer comes back through finish().
/// After stop(), every fetch waiting or new fails at once.
class actor_fetcher : public storage::package_fetcher {
public:
  void fetch_index(const std::string& digest_hex, done_fn done) override {
    start(digest_hex, -1, 0, std::move(done));
  }
  void fetch_chunk(const std::string& digest_hex, uint64_t chunk, int attempt,
                   done_fn done) override {
    start(digest_hex, static_cast<int64_t>(chunk), attempt, std::move(done));
  }
  void attach(agent_impl agent) {
    std::lock_guard<std::mutex> lock(mu_);
    agent_ = std::move(agent);
  }
  /// Answers fetch `id` (once; later answers of the same fetch are dropped).
  void finish(uint64_t id, std::string bytes, std::string error) {
    done_fn done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = waiting_.find(id);
      if (it == waiting_.end())
        return;
      done = std::move(it->second);
      waiting_.erase(it);
    }
    done(std::move(bytes), std::move(error));
  }
  void stop() {
    std::map<uint64_t, done_fn> waiting;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      waiting.swap(waiting_);
    }
    for (auto& [_, done] : waiting)
      done({}, "the node is stopping");
  }

private:
  void start(const std::string& digest_hex, int64_t chunk, int attempt, done_fn done) {
    uint64_t id = 0;
    agent_impl agent;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopped_) {
        id = ++next_;
        waiting_.emplace(id, std::move(done));
        agent = agent_;
      }
    }
    if (id == 0)
      return done({}, "the node is stopping");
    if (!agent)
      return finish(id, {}, "the node's package agent is not running");
    caf::anon_send(agent, fetch_atom::value, id, digest_hex, chunk, static_cast<int32_t>(attempt));
  }

  std::mutex mu_;
  bool stopped_ = false;
  uint64_t next_ = 0;
  std::map<uint64_t, done_fn> waiting_;
  agent_impl agent_;
};

struct metrics_set {
  net::metrics::counter* from_origin;
  net::metrics::counter* from_peers;
  net::metrics::counter* served;
  net::metrics::counter* peer_failures;
};

/// Tries of one chunk (a failed or corrupt answer counts): peers, then the origin.
constexpr int fetch_attempts = 4;

metrics_set make_metrics() {
  auto& reg = net::metrics::registry::node();
  const char* fetched = "Code package bytes this node fetched, by where from";
  return {&reg.get_counter("troupe_package_fetched_bytes_total", fetched, {{"source", "origin"}}),
          &reg.get_counter("troupe_package_fetched_bytes_total", fetched, {{"source", "peer"}}),
          &reg.get_counter("troupe_package_served_bytes_total",
                           "Code package bytes this node sent to other nodes"),
          &reg.get_counter("troupe_package_peer_failures_total",
                           "Chunk fetches from a peer that failed or timed out (then skipped "
                           "with backoff)")};
}

} // namespace

struct package_service::impl {
  caf::actor_system& sys;
  storage::package_store& store;
  package_settings cfg;
  actor_fetcher fetcher;
  storage::package_cache cache;
  std::unique_ptr<storage::package_fs> view; ///< none: packages are extracted
  agent_impl agent;
  metrics_set metrics = make_metrics();
  /// What the metrics' scrape-time refresh reads; cleared by stop().
  struct guard {
    std::mutex mu;
    impl* self = nullptr;
  };
  std::shared_ptr<guard> scrape = std::make_shared<guard>();
  bool stopped = false;

  impl(caf::actor_system& y, storage::package_store& s, package_settings c)
      : sys(y), store(s), cfg(std::move(c)), cache(store, fetcher, fetch_attempts) {}
};

namespace {

using promise = caf::typed_response_promise<std::string>;

struct peer_state {
  int in_flight = 0;
  int failures = 0;
  int64_t backoff_until_ms = 0;
};

struct sources_entry {
  package_sources sources;
  std::string error; ///< why none could be had, the last time
  int64_t fetched_ms = -1;
  bool asking = false;
  std::vector<std::function<void()>> waiting;
};

struct agent_state {
  package_service::impl* svc = nullptr;
  controller_actor controller;
  std::map<std::string, sources_entry> sources; ///< by package
  std::map<caf::actor_addr, peer_state> peers;
  std::map<std::string, std::vector<promise>> preparing; ///< by package
  /// Chunks on their way from the origin, and the peers' reads of them that
  /// wait for them: a host ahead in a burst passes each chunk on as it comes
  /// (only origin fetches are waited for, so no two peers wait on each other).
  struct relayed_read {
    promise rp;
    uint64_t offset;
    uint64_t length;
  };
  std::map<std::pair<std::string, int64_t>, std::vector<relayed_read>> relaying;
  bool report_pending = false;
  static inline const char* name = "troupe.packages";
};

using agent_ptr = agent_impl::stateful_pointer<agent_state>;

/// How long a peer list stays good: new holders appear while a burst fetches.
constexpr int64_t sources_ttl_ms = 1000;

void schedule_report(agent_ptr self) {
  auto& st = self->state;
  if (st.report_pending || !st.controller || st.svc->cfg.host_id.empty())
    return;
  st.report_pending = true;
  self->delayed_send(self, std::chrono::milliseconds(200), pkg_held_atom::value);
}

/// Tells the controller what this host holds, whole and in part (every
/// package, so the controller forgets the evicted ones).
void report(agent_ptr self) {
  auto& st = self->state;
  st.report_pending = false;
  if (!st.controller)
    return;
  std::vector<std::string> complete, partial;
  for (auto& digest : st.svc->store.list())
    (st.svc->store.complete(digest) ? complete : partial).push_back(std::move(digest));
  self->send(st.controller, pkg_held_atom::value, st.svc->cfg.host_id,
             caf::actor_cast<package_actor>(self), std::move(complete), std::move(partial));
}

/// The answer to a question for the package's sources (`got`, or nullptr
/// and why not): what waits for them runs now.
void sources_known(agent_ptr self, const std::string& digest, std::string error,
                   package_sources* got) {
  auto& e = self->state.sources[digest];
  e.asking = false;
  e.error = std::move(error);
  if (got) {
    e.sources = std::move(*got);
    e.fetched_ms = steady_ms();
  }
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& f : waiting)
    f();
}

/// Runs `then` once a fresh enough list of the package's sources is known
/// (or asking for one failed: then the list is what it was, maybe empty).
void with_sources(agent_ptr self, const std::string& digest, std::function<void()> then) {
  auto& st = self->state;
  auto& e = st.sources[digest];
  if (e.fetched_ms >= 0 && steady_ms() - e.fetched_ms < sources_ttl_ms)
    return then();
  e.waiting.push_back(std::move(then));
  if (e.asking)
    return;
  if (!st.controller)
    return sources_known(
        self, digest, "no controller to fetch packages from (the node has not joined the cluster)",
        nullptr);
  e.asking = true;
  self->request(st.controller, std::chrono::seconds(5), pkg_sources_atom::value, digest,
                st.svc->cfg.host_id)
      .then([=](package_sources& s) { sources_known(self, digest, {}, &s); },
            [=](caf::error& err) {
              sources_known(self, digest, "sources: " + error_message(err), nullptr);
            });
}

/// Reads content bytes [offset, offset + length) from `src`, in as many
/// requests as max_package_read takes, appending to `*acc`; `done` learns
/// the error ("" if none) and whether the source just lacks those bytes.
using read_done = std::function<void(std::string error, bool not_held)>;
void read_range(agent_ptr self, package_actor src, std::chrono::milliseconds timeout,
                std::string digest, uint64_t offset, uint64_t length,
                std::shared_ptr<std::string> acc, read_done done) {
  auto want = static_cast<uint32_t>(std::min<uint64_t>(length, max_package_read));
  self->request(src, timeout, pkg_read_atom::value, digest, offset, want)
      .then(
          [=](std::string& bytes) {
            if (bytes.empty() || bytes.size() > want)
              return done("a read of " + std::to_string(want) + " bytes answered " +
                              std::to_string(bytes.size()),
                          false);
            acc->append(bytes);
            if (bytes.size() == length)
              return done({}, false);
            read_range(self, src, timeout, digest, offset + bytes.size(), length - bytes.size(),
                       acc, done);
          },
          [=](caf::error& err) {
            auto not_held = err.category() == caf::atom("troupe") &&
                            err.code() == static_cast<uint8_t>(errc::function_not_found);
            done(error_message(err), not_held);
          });
}

/// The peer a chunk fetch goes to, or -1 for the origin: peers are tried
/// first, spread over by chunk and attempt, skipping those in backoff or
/// with as many of this host's fetches as they take; the last attempt goes
/// to the origin, which holds everything.
int pick_peer(agent_ptr self, const package_sources& s, int64_t chunk, int attempt) {
  auto& st = self->state;
  if (attempt >= fetch_attempts - 1)
    return -1;
  auto now = steady_ms();
  std::vector<int> usable;
  for (size_t k = 0; k < s.peers.size(); ++k) {
    if (!s.peers[k])
      continue;
    auto& p = st.peers[s.peers[k].address()];
    if (p.backoff_until_ms <= now && p.in_flight < st.svc->cfg.uploads_per_peer)
      usable.push_back(static_cast<int>(k));
  }
  if (usable.empty())
    return -1;
  auto spread = std::hash<std::string>{}(st.svc->cfg.host_id) + static_cast<uint64_t>(chunk);
  return usable[(spread + static_cast<uint64_t>(attempt)) % usable.size()];
}

/// A chunk came from the origin (or did not): the peers' reads waiting for it get it now.
void pass_on(agent_ptr self, const std::string& digest, int64_t chunk) {
  auto it = self->state.relaying.find({digest, chunk});
  if (it == self->state.relaying.end())
    return;
  auto waiting = std::move(it->second);
  self->state.relaying.erase(it);
  for (auto& w : waiting) {
    auto bytes = self->state.svc->store.read(digest, w.offset, w.length);
    if (!bytes) {
      w.rp.deliver(
          make_error(errc::function_not_found,
                     "chunk " + std::to_string(chunk) + " of package " + digest + " did not come"));
      continue;
    }
    self->state.svc->metrics.served->add(static_cast<double>(w.length));
    w.rp.deliver(std::move(*bytes));
  }
}

void fetch_from_source(agent_ptr self, uint64_t id, const std::string& digest, int64_t chunk,
                       int attempt) {
  auto& st = self->state;
  auto* svc = st.svc;
  auto& e = st.sources[digest];
  if (!e.sources.origin)
    return svc->fetcher.finish(id, {}, e.error.empty() ? "no origin for packages" : e.error);
  if (chunk < 0) { // the index is small, and the origin's is authoritative
    self->request(e.sources.origin, svc->cfg.origin_timeout, pkg_index_atom::value, digest)
        .then(
            [=](std::string& bytes) { svc->fetcher.finish(id, std::move(bytes), {}); },
            [=](caf::error& err) { svc->fetcher.finish(id, {}, "origin: " + error_message(err)); });
    return;
  }
  auto index = svc->store.index(digest);
  if (!index)
    return svc->fetcher.finish(id, {}, "package " + digest + " has no index here");
  auto offset = static_cast<uint64_t>(chunk) * index->chunk_bytes;
  auto length = index->chunk_length(static_cast<uint64_t>(chunk));
  auto k = pick_peer(self, e.sources, chunk, attempt);
  auto src = k < 0 ? e.sources.origin : e.sources.peers[static_cast<size_t>(k)];
  auto name = k < 0 ? std::string{"origin"} : "peer " + e.sources.peer_ids[static_cast<size_t>(k)];
  auto timeout = k < 0 ? svc->cfg.origin_timeout : svc->cfg.peer_timeout;
  auto addr = src.address();
  if (k >= 0)
    ++st.peers[addr].in_flight;
  if (k < 0)
    st.relaying[{digest, chunk}]; // peers asking meanwhile wait for it
  auto acc = std::make_shared<std::string>();
  acc->reserve(length);
  read_range(
      self, src, timeout, digest, offset, length, acc, [=](std::string error, bool not_held) {
        if (k >= 0) {
          auto& p = self->state.peers[addr];
          --p.in_flight;
          if (error.empty()) {
            p.failures = 0;
          } else if (!not_held) { // a peer still filling its copy lacks chunks: not its failure
            ++p.failures;
            p.backoff_until_ms =
                steady_ms() + std::min<int64_t>(30'000, int64_t{250} << std::min(p.failures, 7));
            svc->metrics.peer_failures->add();
          }
        }
        if (error.empty()) {
          auto n = acc->size();
          (k < 0 ? svc->metrics.from_origin : svc->metrics.from_peers)->add(static_cast<double>(n));
          svc->fetcher.finish(id, std::move(*acc), {}); // stored (or found corrupt) by now
        } else {
          svc->fetcher.finish(id, {}, name + ": " + error);
        }
        if (k < 0)
          pass_on(self, digest, chunk);
        if (svc->store.complete(digest))
          schedule_report(self);
      });
}

/// Extracts a complete package to `trees/<digest>` (once), for instances to
/// mount where there is no FUSE view, and drops the trees of packages the
/// store no longer holds.
std::string extract_tree(package_service::impl& svc, const std::string& digest, fs::path& dir) {
  dir = svc.cfg.trees / digest;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    return {};
  fs::create_directories(svc.cfg.trees, ec);
  std::random_device rd;
  auto tmp = svc.cfg.trees / (".tmp-" + digest + "-" + std::to_string(rd()));
  fs::create_directory(tmp, ec);
  auto error = ec ? "cannot create " + tmp.string() + ": " + ec.message()
                  : svc.store.materialize(digest, tmp);
  if (error.empty() && std::rename(tmp.c_str(), dir.c_str()) != 0)
    error = "cannot move " + tmp.string() + " into place";
  if (!error.empty()) {
    fs::remove_all(tmp, ec);
    return error;
  }
  for (fs::directory_iterator it(svc.cfg.trees, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.size() == 64 && !svc.store.contains(name)) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
  return {};
}

void prepared(agent_ptr self, const std::string& digest, std::string error) {
  auto& st = self->state;
  auto waiting = std::move(st.preparing[digest]);
  st.preparing.erase(digest);
  fs::path dir;
  if (error.empty()) {
    if (st.svc->view)
      dir = st.svc->view->dir(digest);
    else
      error = extract_tree(*st.svc, digest, dir);
  }
  for (auto& rp : waiting) {
    if (!error.empty()) {
      rp.deliver(make_error(errc::sandbox_failed, "code package " + digest + ": " + error));
      continue;
    }
    st.svc->store.pin(digest);
    rp.deliver(dir.string());
  }
  schedule_report(self);
}

caf::result<std::string> prepare(agent_ptr self, const std::string& digest) {
  auto& st = self->state;
  if (st.svc->cfg.host_id.empty())
    return make_error(errc::sandbox_failed, "this node runs no instances");
  if (digest.size() != 64 || digest.find_first_not_of("0123456789abcdef") != std::string::npos)
    return make_error(errc::sandbox_failed,
                      "the function has no code package (deploy its code again)");
  auto rp = self->make_response_promise<std::string>();
  auto& waiting = st.preparing[digest];
  waiting.push_back(rp);
  if (waiting.size() > 1)
    return rp; // already under way
  auto me = caf::actor_cast<agent_impl>(self);
  // Without a FUSE view an instance needs every file on disk before it starts.
  st.svc->cache.prepare(digest, !st.svc->view, [me, digest](std::string error) {
    caf::anon_send(me, prepare_atom::value, digest, std::move(error));
  });
  return rp;
}

caf::result<std::string> serve_read(agent_ptr self, const std::string& digest, uint64_t offset,
                                    uint32_t length) {
  auto* svc = self->state.svc;
  auto index = svc->store.index(digest);
  if (!index)
    return make_error(errc::function_not_found, "no package " + digest + " on this node");
  if (offset >= index->content_bytes || length == 0)
    return make_error(errc::invalid_parameter, "range " + std::to_string(offset) + "+" +
                                                   std::to_string(length) + " is outside package " +
                                                   digest);
  auto n = std::min<uint64_t>({length, max_package_read, index->content_bytes - offset});
  auto bytes = svc->store.read(digest, offset, n);
  auto chunk = static_cast<int64_t>(offset / index->chunk_bytes);
  auto relayed = self->state.relaying.find({digest, chunk});
  if (!bytes && relayed != self->state.relaying.end() &&
      static_cast<int64_t>((offset + n - 1) / index->chunk_bytes) == chunk) {
    auto rp = self->make_response_promise<std::string>();
    relayed->second.push_back({rp, offset, n});
    return rp;
  }
  if (!bytes)
    return make_error(errc::function_not_found,
                      "not all of that range of package " + digest + " is on this node");
  svc->metrics.served->add(static_cast<double>(n));
  return std::move(*bytes);
}

agent_impl::behavior_type package_agent(agent_ptr self, package_service::impl* svc) {
  self->state.svc = svc;
  return {
      [=](pkg_index_atom, const std::string& digest) -> caf::result<std::string> {
        if (auto bytes = self->state.svc->store.encoded_index(digest))
          return std::move(*bytes);
        return make_error(errc::function_not_found, "no package " + digest + " on this node");
      },
      [=](pkg_read_atom, const std::string& digest, uint64_t offset, uint32_t length) {
        return serve_read(self, digest, offset, length);
      },
      [=](prepare_atom, const std::string& digest) { return prepare(self, digest); },
      [=](prepare_atom, const std::string& digest, std::string& error) {
        prepared(self, digest, std::move(error));
      },
      [=](join_atom, controller_actor controller) {
        self->state.controller = std::move(controller);
        self->state.sources.clear();
        schedule_report(self);
      },
      [=](fetch_atom, uint64_t id, const std::string& digest, int64_t chunk, int32_t attempt) {
        with_sources(self, digest, [=] {
          fetch_from_source(self, id, digest, chunk, static_cast<int>(attempt));
        });
      },
      [=](pkg_held_atom) { report(self); },
  };
}

void add_scrape_metrics(const std::shared_ptr<package_service::impl::guard>& g) {
  net::metrics::registry::node().on_render([g](net::metrics::registry& reg) {
    std::lock_guard<std::mutex> lock(g->mu);
    if (!g->self)
      return;
    auto& svc = *g->self;
    reg.get_gauge("troupe_package_cache_bytes", "Code package content bytes this node holds")
        .set(static_cast<double>(svc.store.bytes()));
    reg.get_counter("troupe_package_evictions_total",
                    "Code packages evicted from this node's cache (least recently used, unused)")
        .raise_to(static_cast<double>(svc.store.evictions()));
    auto c = svc.cache.stats();
    reg.get_counter("troupe_package_corrupt_chunks_total",
                    "Fetched chunks whose digest did not match (fetched again)")
        .raise_to(static_cast<double>(c.corrupt_chunks));
    reg.get_counter("troupe_fuse_reads_waiting_total",
                    "FUSE reads that waited for a chunk to be fetched")
        .raise_to(static_cast<double>(c.reads_waiting));
    if (!svc.view)
      return;
    auto f = svc.view->stats();
    reg.get_counter("troupe_fuse_lookups_total", "Name lookups the kernel asked the FUSE view for")
        .raise_to(static_cast<double>(f.lookups));
    reg.get_counter("troupe_fuse_reads_total", "Read requests the FUSE view served")
        .raise_to(static_cast<double>(f.reads));
    reg.get_counter("troupe_fuse_read_bytes_total", "Bytes the FUSE view handed to readers")
        .raise_to(static_cast<double>(f.bytes_read));
    reg.get_counter("troupe_fuse_read_errors_total",
                    "FUSE reads that failed (the reader got EIO: a chunk could not be fetched)")
        .raise_to(static_cast<double>(f.read_errors));
  });
}

} // namespace

package_service::package_service(caf::actor_system& sys, storage::package_store& store,
                                 package_settings cfg)
    : impl_(std::make_unique<impl>(sys, store, std::move(cfg))) {
  auto& im = *impl_;
  if (!im.cfg.host_id.empty() && im.cfg.fuse) {
    std::string error;
    im.view = storage::package_fs::mount(im.cfg.mount, im.cache, &error);
    if (!im.view)
      net::log::warn("fuse_unavailable",
                     "no FUSE view of code packages (" + error + "): packages are extracted")
          .field("mount", im.cfg.mount.string());
  }
  im.agent = sys.spawn<caf::detached>(package_agent, &im);
  im.fetcher.attach(im.agent);
  {
    std::lock_guard<std::mutex> lock(im.scrape->mu);
    im.scrape->self = &im;
  }
  add_scrape_metrics(im.scrape);
}

package_service::~package_service() {
  stop();
}

package_agent_actor package_service::agent() const {
  return impl_->agent;
}

void package_service::stop() {
  auto& im = *impl_;
  if (im.stopped)
    return;
  im.stopped = true;
  {
    std::lock_guard<std::mutex> lock(im.scrape->mu);
    im.scrape->self = nullptr;
  }
  im.fetcher.stop(); // no read waits on a fetch from here on
  if (im.view)
    im.view->stop();
  caf::anon_send_exit(im.agent, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{im.sys};
  self->wait_for(im.agent); // it uses this object until it ends
}

} // namespace troupe
