#include "actors/instance.hpp"

#include "actors/clock.hpp"
#include "actors/protocol/errc.hpp"
#include "net/detail/io_runtime_impl.hpp"
#include "net/json_writer.hpp"
#include "net/metrics.hpp"
#include "runtime/invocation_log.hpp"
#include "runtime/output_capture.hpp"
#include "runtime/runtime_api.hpp"
#include "runtime/sandbox.hpp"
#include "storage/log_store.hpp"

#include <boost/asio/steady_timer.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <optional>
#include <sys/wait.h>

namespace troupe {

namespace {

/// The instance's full interface: the public one plus what its own Runtime API
/// endpoint and sandbox report (sent from io threads).
using instance_impl =
    instance_actor::extend<caf::reacts_to<rt_resp_atom, std::string, std::string>,
                           caf::reacts_to<rt_error_atom, std::string, std::string, std::string>,
                           caf::reacts_to<rt_init_atom, std::string, std::string>,
                           caf::reacts_to<rt_exit_atom, int32_t>,
                           caf::reacts_to<expire_atom, std::string>>;

struct in_flight {
  std::string request_id;
  caf::typed_response_promise<invocation_result> promise;
  bool want_log_tail = false;
  std::chrono::steady_clock::time_point delivered; ///< handed to the Runtime API
};

/// What one invocation's log holds back of its output (Lambda cuts an event
/// at 256 KB too); the rest of the function's log is bounded by its store.
constexpr std::size_t max_output_per_invocation = 256 * 1024;

/// The series an instance moves between, found once.
struct state_gauges {
  net::metrics::gauge *idle, *busy, *draining;
};

const state_gauges& gauges() {
  static const state_gauges g{&instances_gauge("idle"), &instances_gauge("busy"),
                              &instances_gauge("draining")};
  return g;
}

/// Which of the node's troupe_instances{state} series counts this instance:
/// one at a time, none once its state is destroyed.
class counted_state {
public:
  void move_to(net::metrics::gauge* state) {
    if (current_)
      current_->add(-1);
    current_ = state;
    if (current_)
      current_->add(1);
  }
  counted_state() = default;
  counted_state(const counted_state&) = delete;
  counted_state& operator=(const counted_state&) = delete;
  ~counted_state() { move_to(nullptr); }

private:
  net::metrics::gauge* current_ = nullptr;
};

/// States:  idle <--invoke/answer--> serving ; any --exit/timeout/init error--> ended
struct instance_state {
  std::shared_ptr<runtime::sandbox> box;
  std::unique_ptr<runtime::runtime_api> api;
  std::unique_ptr<runtime::output_capture> output; ///< the sandbox's stdout and stderr
  /// The function's timeout of the request in flight, on an io thread: a
  /// delayed_send through CAF 0.17's clock cost two wake-ups of its thread
  /// and a stale message at every invocation (it cancels nothing).
  std::unique_ptr<boost::asio::steady_timer> deadline;
  storage::log_store* logs = nullptr;
  function_config cfg;
  std::string arn;
  std::optional<in_flight> current;
  bool cold = true;                      ///< the next answer is the first: a cold start
  int64_t invocations = 0;               ///< answered so far
  bool draining = false;                 ///< ends once the request in hand is answered
  std::optional<std::string> init_error; ///< reported before any invocation arrived
  std::string init_error_type;
  counted_state counted; ///< idle, busy or draining in the node's metrics
  static inline const char* name = "troupe.instance";
};

using instance_ptr = instance_impl::stateful_pointer<instance_state>;

std::string error_doc(std::string_view type, std::string_view message) {
  net::json_writer w;
  w.begin_object().field("errorType", type).field("errorMessage", message).end_object();
  return w.take();
}

std::string exit_description(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string{"signal: "} +
           (WTERMSIG(status) == SIGKILL ? "killed" : strsignal(WTERMSIG(status)));
  return "status " + std::to_string(status);
}

double ms_between(std::chrono::steady_clock::time_point from,
                  std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// How the request in flight ended, if not with the runtime's answer.
struct ending {
  std::string status;     ///< Lambda's REPORT Status: "timeout" or "error"
  std::string error_type; ///< with "error"
  std::string note;       ///< a line of the platform's own in the log
};

/// What Lambda's REPORT line says of the request in flight, ended `how`.
runtime::invocation_report report_of(instance_ptr self, const ending& how) {
  auto& st = self->state;
  using clock = std::chrono::steady_clock;
  auto now = clock::now();
  runtime::invocation_report r;
  r.request_id = st.current->request_id;
  r.version = st.cfg.version;
  r.memory_mb = st.cfg.memory_mb;
  r.max_memory_bytes = st.box ? st.box->peak_memory_bytes() : 0;
  r.status = how.status;
  r.error_type = how.error_type;
  // The runtime's own clock of it where it got that far: from the event's
  // handing over (or its delivery, if the runtime never fetched it) to the
  // answer (or now).
  auto times = st.api->times();
  auto fetched = times.fetched >= st.current->delivered;
  auto begin = fetched ? times.fetched : st.current->delivered;
  auto end = fetched && how.status.empty() && times.answered >= begin ? times.answered : now;
  r.duration_ms = ms_between(begin, end);
  if (st.cold && st.box)
    r.init_ms =
        ms_between(st.box->claimed_at(), times.ready != clock::time_point{} ? times.ready : now);
  return r;
}

/// The request in flight's log, from its output to its REPORT line.
std::string log_of(instance_ptr self, const runtime::invocation_report& r, const ending& how) {
  auto& st = self->state;
  auto output = st.output ? st.output->take() : std::string{};
  if (!how.note.empty())
    output += (output.empty() || output.back() == '\n' ? "" : "\n") + how.note + "\n";
  return runtime::invocation_log(r, output);
}

/// Answers the request in flight (if any) and forgets it. Its log goes to
/// the function's log after the answer, unless the caller asked for its tail.
void finish(instance_ptr self, bool function_error, std::string payload, const ending& how = {}) {
  auto& st = self->state;
  if (!st.current)
    return;
  auto r = report_of(self, how);
  invocation_result res{function_error, std::move(payload), st.cold};
  auto& stats = res.stats;
  stats.init_ms = r.init_ms;
  stats.run_ms = r.duration_ms;
  stats.memory_mb = r.memory_mb;
  stats.max_memory_bytes = r.max_memory_bytes;
  stats.status = r.status;
  stats.error_type = r.error_type;
  std::string log;
  bool tail = st.current->want_log_tail;
  if (tail) {
    log = log_of(self, r, how);
    res.log_tail = std::string{runtime::log_tail(log)};
  }
  st.counted.move_to(st.draining ? gauges().draining : gauges().idle); // before the caller can look
  st.current->promise.deliver(std::move(res));
  if (!tail)
    log = log_of(self, r, how);
  if (st.logs)
    st.logs->append(st.cfg.id(), std::move(log));
  ++st.invocations;
  st.cold = false;
  st.current.reset();
  if (st.deadline)
    st.deadline->cancel(); // one that already fired names a request no longer current
}

/// Ends the instance: kills the process tree; the state's destructor reaps it.
void end(instance_ptr self) {
  if (self->state.box)
    self->state.box->kill();
  self->quit(caf::exit_reason::normal);
}

caf::result<invocation_result> invoke(instance_ptr self, invocation inv) {
  auto& st = self->state;
  if (st.init_error) { // answered at once, and logged as Lambda logs a failed init
    auto promise = self->make_response_promise<invocation_result>();
    st.current =
        in_flight{inv.request_id, promise, inv.want_log_tail, std::chrono::steady_clock::now()};
    finish(self, true, *st.init_error, {"error", st.init_error_type, ""});
    end(self);
    return promise;
  }
  if (st.current)
    return make_error(errc::instance_lost, "instance is busy");
  if (st.draining)
    return make_error(errc::instance_lost, "instance is draining");
  auto now = now_ms();
  runtime::runtime_event ev;
  ev.request_id = inv.request_id;
  ev.deadline_ms = now + st.cfg.timeout_s * 1000LL; // the timeout below ends it then
  ev.function_arn = st.arn;
  ev.trace_id = runtime::trace_id_for(inv.trace_id, inv.request_id, now);
  ev.payload = std::move(inv.payload);
  ev.client_context = std::move(inv.client_context);
  // No Cognito identity: Troupe's callers sign with access keys, not Cognito.
  // Before the handing over: a waiting runtime fetches the event within deliver().
  auto delivered = std::chrono::steady_clock::now();
  if (!st.api->deliver(std::move(ev)))
    return make_error(errc::instance_lost, "runtime already holds an event");
  auto promise = self->make_response_promise<invocation_result>();
  st.current = in_flight{inv.request_id, promise, inv.want_log_tail, delivered};
  st.counted.move_to(gauges().busy);
  st.deadline->expires_after(std::chrono::seconds(st.cfg.timeout_s));
  st.deadline->async_wait(
      [addr = self->address(), id = inv.request_id](const boost::system::error_code& ec) {
        if (auto hdl = caf::actor_cast<caf::actor>(addr); hdl && !ec)
          caf::anon_send(hdl, expire_atom::value, id);
      });
  return promise;
}

void on_timeout(instance_ptr self, const std::string& id) {
  auto& st = self->state;
  if (!st.current || st.current->request_id != id)
    return;
  auto message = "RequestId: " + id + " Error: Task timed out after " +
                 std::to_string(st.cfg.timeout_s) + ".00 seconds";
  finish(self, true, error_doc("Sandbox.Timedout", message), {"timeout", "", message});
  end(self);
}

void on_exit(instance_ptr self, int32_t status) {
  auto& st = self->state;
  auto id = st.current ? st.current->request_id : std::string{};
  // Over its memory size the kernel kills the runtime: Lambda names that apart.
  std::string type = st.box && st.box->oom_killed() ? "Runtime.OutOfMemory" : "Runtime.ExitError";
  auto message = "RequestId: " + id +
                 " Error: Runtime exited with error: " + exit_description(status) + "\n" + type;
  finish(self, true,
         error_doc(type, "RequestId: " + id +
                             " Error: Runtime exited with error: " + exit_description(status)),
         {"error", type, message});
  self->state.box.reset(); // already reaped
  self->quit(caf::exit_reason::normal);
}

void on_init_error(instance_ptr self, const std::string& type, std::string payload) {
  if (payload.empty())
    payload = error_doc(type, "the runtime failed to initialise");
  if (self->state.current) {
    finish(self, true, std::move(payload), {"error", type, ""});
    end(self);
  } else {
    self->state.init_error = std::move(payload);
    self->state.init_error_type = type;
  }
}

/// Connects the Runtime API endpoint and the exit watcher to this actor.
void wire(instance_ptr self, net::io_runtime& io) {
  auto& st = self->state;
  auto addr = self->address();
  auto tell = [addr](auto... xs) {
    if (auto hdl = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(hdl, std::move(xs)...);
  };
  runtime::runtime_api_callbacks cb;
  cb.on_response = [tell](std::string id, std::string p) { tell(rt_resp_atom::value, id, p); };
  cb.on_error = [tell](std::string id, std::string type, std::string p) {
    tell(rt_error_atom::value, id, type, p);
  };
  cb.on_init_error = [tell](std::string type, std::string p) {
    tell(rt_init_atom::value, type, p);
  };
  st.api = std::make_unique<runtime::runtime_api>(io, st.box->release_runtime_api_fd(), cb);
  st.deadline = std::make_unique<boost::asio::steady_timer>(net::asio_context(io));
  if (int fd = st.box->release_output_fd(); fd >= 0)
    st.output = std::make_unique<runtime::output_capture>(io, fd, max_output_per_invocation);
  st.box->on_exit(io, [tell](int status) { tell(rt_exit_atom::value, int32_t{status}); });
}

instance_impl::behavior_type instance(instance_ptr self, std::shared_ptr<runtime::sandbox> box,
                                      function_config cfg, std::string arn, router_actor router,
                                      io_handle io, storage::log_store* logs) {
  auto& st = self->state;
  st.logs = logs;
  st.box = std::move(box);
  st.cfg = std::move(cfg);
  st.arn = std::move(arn);
  st.counted.move_to(gauges().idle);
  wire(self, *io.io);
  self->monitor(router);
  self->set_down_handler([=](const caf::down_msg&) { end(self); });
  return {
      [=](invoke_atom, invocation inv) { return invoke(self, std::move(inv)); },
      [=](rt_resp_atom, const std::string& id, std::string payload) {
        if (self->state.current && self->state.current->request_id == id)
          finish(self, false, std::move(payload));
        if (self->state.draining && !self->state.current)
          end(self);
      },
      [=](rt_error_atom, const std::string& id, const std::string& type, std::string payload) {
        if (payload.empty())
          payload = error_doc(type, "the function reported an error");
        if (self->state.current && self->state.current->request_id == id)
          finish(self, true, std::move(payload));
        if (self->state.draining && !self->state.current)
          end(self);
      },
      [=](rt_init_atom, const std::string& type, std::string payload) {
        on_init_error(self, type, std::move(payload));
      },
      [=](rt_exit_atom, int32_t status) { on_exit(self, status); },
      [=](expire_atom, const std::string& id) { on_timeout(self, id); },
      [=](drain_atom) {
        self->state.draining = true;
        if (!self->state.current)
          self->state.counted.move_to(gauges().draining);
        if (!self->state.current)
          end(self);
      },
      [=](status_atom) {
        const auto& st = self->state;
        instance_status s;
        s.state = st.draining ? "draining" : st.current ? "busy" : "idle";
        s.invocations = st.invocations;
        return s;
      },
  };
}

} // namespace

net::metrics::gauge& instances_gauge(const std::string& state) {
  return net::metrics::registry::node().get_gauge(
      "troupe_instances", "Instances on this host, by state", {{"state", state}});
}

instance_actor spawn_instance(caf::actor_system& sys, std::shared_ptr<runtime::sandbox> box,
                              function_config cfg, std::string function_arn, router_actor router,
                              net::io_runtime& io, storage::log_store* logs) {
  return sys.spawn(instance, std::move(box), std::move(cfg), std::move(function_arn),
                   std::move(router), io_handle{&io}, logs);
}

} // namespace troupe
