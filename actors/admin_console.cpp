// troupe-admin's commands: each is a request (or a few) of Troupe's HTTP API
// carried by the admin actor, and a table made of the answer. With --json the
// answer's document is printed as it came.
#include "actors/admin_console.hpp"

#include "actors/clock.hpp"
#include "actors/policy/egress.hpp"
#include "net/base64.hpp"
#include "net/json_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

namespace troupe::console {

namespace {

namespace fs = std::filesystem;
using words_t = std::vector<std::string>;

const std::string functions_path = "/2015-03-31/functions";

// --- answers ---------------------------------------------------------------

/// A parsed JSON answer; `ok` false when the body is not JSON.
struct document {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit document(const std::string& body) {
    ok = parser.parse(body).get(root) == simdjson::SUCCESS;
  }
};

/// A field of an object as text for a table ("" when absent).
std::string text_of(simdjson::dom::element e, std::string_view key) {
  simdjson::dom::element v;
  if (e.at_key(key).get(v) != simdjson::SUCCESS)
    return "";
  switch (v.type()) {
  case simdjson::dom::element_type::STRING:
    return std::string{std::string_view(v)};
  case simdjson::dom::element_type::INT64:
    return std::to_string(int64_t(v));
  case simdjson::dom::element_type::UINT64:
    return std::to_string(uint64_t(v));
  case simdjson::dom::element_type::DOUBLE: {
    std::ostringstream s;
    s << double(v);
    return s.str();
  }
  case simdjson::dom::element_type::BOOL:
    return bool(v) ? "yes" : "no";
  case simdjson::dom::element_type::NULL_VALUE:
    return "";
  default:
    return simdjson::minify(v);
  }
}

/// The array at `key` of `e` (empty when absent).
std::vector<simdjson::dom::element> array_of(simdjson::dom::element e, std::string_view key) {
  std::vector<simdjson::dom::element> out;
  simdjson::dom::array a;
  if (e.at_key(key).get(a) == simdjson::SUCCESS)
    for (auto x : a)
      out.push_back(x);
  return out;
}

/// Columns padded to their widest cell.
void print_table(std::ostream& out, const words_t& head, const std::vector<words_t>& rows) {
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows)
      width[c] = std::max(width[c], c < r.size() ? r[c].size() : 0);
  }
  auto line = [&](const words_t& r) {
    std::string s;
    for (std::size_t c = 0; c < head.size(); ++c) {
      auto cell = c < r.size() ? r[c] : "";
      s += c + 1 < head.size() ? cell + std::string(width[c] - cell.size() + 2, ' ') : cell;
    }
    out << s << "\n";
  };
  line(head);
  for (const auto& r : rows)
    line(r);
  if (rows.empty())
    out << "(none)\n";
}

// --- requests --------------------------------------------------------------

/// One command's conversation with the cluster.
struct call {
  const options& opt;
  const transport& send;
  std::ostream& out;
  std::ostream& err;

  /// The answer, or nullopt after saying what went wrong.
  std::optional<admin_reply> ask(std::string method, std::string target, std::string body = "",
                                 std::map<std::string, std::string> headers = {}) const {
    admin_request r{
        "", opt.tenant, std::move(method), std::move(target), std::move(body), std::move(headers)};
    return checked(send(std::move(r)));
  }

  /// The answer if it is not an error, or nullopt after saying what went wrong.
  std::optional<admin_reply> checked(admin_reply reply) const {
    if (reply.status == 0) {
      err << "error: " << reply.body << "\n";
      return std::nullopt;
    }
    if (reply.status >= 400) {
      document d{reply.body};
      auto named = reply.headers.find("X-Amzn-ErrorType");
      auto type = named != reply.headers.end() ? named->second
                  : d.ok                       ? text_of(d.root, "Type")
                                               : "";
      auto message = d.ok ? text_of(d.root, "Message") : reply.body;
      if (message.empty() && d.ok)
        message = text_of(d.root, "message");
      err << "error: " << message << " (" << reply.status << (type.empty() ? "" : " " + type)
          << ")\n";
      return std::nullopt;
    }
    return reply;
  }

  /// ask(), then the answer: its JSON document printed as it is with
  /// --json, else handed to `render`. Whether it succeeded.
  bool show(const std::string& method, const std::string& target,
            const std::function<void(simdjson::dom::element)>& render,
            const std::string& body = "") const {
    auto reply = ask(method, target, body);
    if (!reply)
      return false;
    if (opt.json) {
      out << (reply->body.empty() ? "{}" : reply->body) << "\n";
      return true;
    }
    document d{reply->body};
    if (!d.ok) {
      err << "error: the answer is not JSON: " << reply->body.substr(0, 200) << "\n";
      return false;
    }
    render(d.root);
    return true;
  }
};

bool usage_error(const command_info& c, std::ostream& err) {
  err << "usage: " << c.usage << "\n";
  return false;
}

const command_info* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name)
      return &c;
  return nullptr;
}

/// Whether `text` is a whole number in [lo, hi].
bool whole_number(const std::string& text, long lo, long hi, long& value) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return false;
  value = std::stol(text);
  return value >= lo && value <= hi;
}

// --- commands --------------------------------------------------------------

bool help(const call& c, const words_t& w) {
  auto* one = w.size() > 1 ? find_command(w[1]) : nullptr;
  if (w.size() > 1 && !one) {
    c.err << "error: no command " << w[1] << " (help lists them)\n";
    return false;
  }
  if (c.opt.json) {
    net::json_writer j;
    j.begin_object().key("Commands").begin_array();
    for (const auto& cmd : commands())
      if (!one || one == &cmd)
        j.begin_object()
            .field("Name", cmd.name)
            .field("Usage", cmd.usage)
            .field("Summary", cmd.summary)
            .end_object();
    c.out << j.end_array().end_object().take() << "\n";
    return true;
  }
  if (one) {
    c.out << one->usage << "\n  " << one->summary << "\n";
    return true;
  }
  std::size_t width = 0;
  for (const auto& cmd : commands())
    width = std::max(width, cmd.usage.size());
  for (const auto& cmd : commands())
    c.out << std::left << std::setw(int(width) + 2) << cmd.usage << cmd.summary << "\n";
  return true;
}

void render_hosts(std::ostream& out, simdjson::dom::element d) {
  std::vector<words_t> rows;
  for (auto h : array_of(d, "Hosts"))
    rows.push_back({text_of(h, "Id"), text_of(h, "Zone"), text_of(h, "Slots"),
                    text_of(h, "FreeSlots"), text_of(h, "Instances"),
                    text_of(h, "Draining") == "yes" ? "draining" : "serving", text_of(h, "Breaker"),
                    text_of(h, "Endpoint")});
  print_table(out, {"HOST", "ZONE", "SLOTS", "FREE", "INSTANCES", "STATE", "BREAKER", "ENDPOINT"},
              rows);
}

void render_queues(std::ostream& out, simdjson::dom::element d) {
  std::vector<words_t> rows;
  for (auto r : array_of(d, "Routers"))
    rows.push_back({text_of(r, "Tenant") + "/" + text_of(r, "FunctionName"), text_of(r, "Queued"),
                    text_of(r, "Instances"), text_of(r, "Requests"), text_of(r, "Refused"),
                    text_of(r, "Retries")});
  print_table(out, {"FUNCTION", "QUEUED", "INSTANCES", "REQUESTS", "REFUSED", "RETRIES"}, rows);
}

bool hosts(const call& c, const words_t&) {
  return c.show("GET", "/troupe/hosts", [&](auto d) { render_hosts(c.out, d); });
}

/// The cluster in a few lines; with `tables`, the hosts and queues tables
/// too, made of the same answers (watch's view).
bool status_view(const call& c, bool tables) {
  auto h = c.ask("GET", "/troupe/hosts");
  auto r = h ? c.ask("GET", "/troupe/routers") : std::nullopt;
  auto q = r ? c.ask("GET", "/troupe/event-queue") : std::nullopt;
  if (!q)
    return false;
  if (c.opt.json) {
    c.out << "{\"Hosts\":" << h->body << ",\"Routers\":" << r->body << ",\"EventQueue\":" << q->body
          << "}\n";
    return true;
  }
  document hd{h->body}, rd{r->body}, qd{q->body};
  if (!hd.ok || !rd.ok || !qd.ok) {
    c.err << "error: an answer is not JSON\n";
    return false;
  }
  long slots = 0, free_slots = 0, instances = 0, draining = 0, open = 0, queued = 0;
  auto hosts = array_of(hd.root, "Hosts");
  for (auto x : hosts) {
    slots += std::atol(text_of(x, "Slots").c_str());
    free_slots += std::atol(text_of(x, "FreeSlots").c_str());
    instances += std::atol(text_of(x, "Instances").c_str());
    draining += text_of(x, "Draining") == "yes";
    open += text_of(x, "Breaker") != "closed";
  }
  auto routers = array_of(rd.root, "Routers");
  long router_instances = 0;
  for (auto x : routers) {
    queued += std::atol(text_of(x, "Queued").c_str());
    router_instances += std::atol(text_of(x, "Instances").c_str());
  }
  c.out << "hosts        " << hosts.size() << " (" << draining << " draining, " << open
        << " with an open breaker)\n"
        << "slots        " << slots - free_slots << " of " << slots << " used (128 MB each)\n"
        << "instances    " << instances << "\n"
        << "functions    " << routers.size() << " routed on this node, " << router_instances
        << " instances, " << queued << " requests waiting\n"
        << "event queue  " << text_of(qd.root, "Queued") << " queued, "
        << text_of(qd.root, "InFlight") << " in flight, " << text_of(qd.root, "DeadLettered")
        << " dead letters\n";
  if (tables) {
    render_hosts(c.out, hd.root);
    render_queues(c.out, rd.root);
  }
  return true;
}

bool status(const call& c, const words_t&) {
  return status_view(c, false);
}

bool functions(const call& c, const words_t&) {
  return c.show("GET", functions_path + "/?MaxItems=10000", [&](auto d) {
    std::vector<words_t> rows;
    for (auto f : array_of(d, "Functions"))
      rows.push_back({text_of(f, "FunctionName"), text_of(f, "Runtime"), text_of(f, "MemorySize"),
                      text_of(f, "Timeout"), text_of(f, "State"), text_of(f, "LastModified")});
    print_table(c.out, {"FUNCTION", "RUNTIME", "MEMORY", "TIMEOUT", "STATE", "MODIFIED"}, rows);
  });
}

bool function(const call& c, const words_t& w) {
  return c.show("GET", functions_path + "/" + w[1], [&](auto d) {
    simdjson::dom::object cfg;
    if (d.at_key("Configuration").get(cfg) != simdjson::SUCCESS)
      return;
    for (auto [key, value] : cfg)
      c.out << std::left << std::setw(22) << std::string{key} + ":"
            << (value.is_string() ? std::string{std::string_view(value)} : simdjson::minify(value))
            << "\n";
    simdjson::dom::element conc;
    if (d.at_key("Concurrency").get(conc) == simdjson::SUCCESS)
      c.out << std::left << std::setw(22) << "Concurrency:"
            << (text_of(conc, "ReservedConcurrentExecutions").empty()
                    ? "unreserved"
                    : text_of(conc, "ReservedConcurrentExecutions"))
            << "\n";
  });
}

bool invoke(const call& c, const words_t& w) {
  auto payload = w.size() > 2 ? w[2] : "{}";
  auto reply = c.ask("POST", functions_path + "/" + w[1] + "/invocations", payload,
                     {{"X-Amz-Log-Type", "Tail"}});
  if (!reply)
    return false;
  auto error =
      reply->headers.count("X-Amz-Function-Error") ? reply->headers["X-Amz-Function-Error"] : "";
  if (c.opt.json) {
    net::json_writer j;
    j.begin_object().field("StatusCode", int64_t(reply->status)).field("Payload", reply->body);
    if (!error.empty())
      j.field("FunctionError", error);
    if (reply->headers.count("X-Amz-Log-Result"))
      j.field("LogResult", reply->headers["X-Amz-Log-Result"]);
    j.field("ExecutedVersion", reply->headers["X-Amz-Executed-Version"]);
    c.out << j.end_object().take() << "\n";
  } else {
    c.out << reply->body << "\n";
  }
  if (!error.empty()) {
    c.err << "error: the function failed (" << error << ")\n";
    if (!c.opt.json && reply->headers.count("X-Amz-Log-Result"))
      if (auto log = net::base64_decode(reply->headers["X-Amz-Log-Result"]))
        c.err << *log;
    return false;
  }
  return true;
}

bool concurrency(const call& c, const words_t& w) {
  auto render = [&](simdjson::dom::element d) {
    auto n = text_of(d, "ReservedConcurrentExecutions");
    c.out << w[1] << ": " << (n.empty() ? "unreserved" : n + " reserved") << "\n";
  };
  if (w.size() == 2)
    return c.show("GET", "/2019-09-30/functions/" + w[1] + "/concurrency", render);
  if (w[2] == "none") {
    if (!c.ask("DELETE", "/2017-10-31/functions/" + w[1] + "/concurrency"))
      return false;
    c.out << (c.opt.json ? "{}" : w[1] + ": unreserved") << "\n";
    return true;
  }
  long n = 0;
  if (!whole_number(w[2], 0, 100000, n)) {
    c.err << "error: concurrency is a whole number from 0, or none\n";
    return false;
  }
  return c.show("PUT", "/2017-10-31/functions/" + w[1] + "/concurrency", render,
                "{\"ReservedConcurrentExecutions\":" + std::to_string(n) + "}");
}

/// "1h02m", "3m05s", "12s": an age for a table.
std::string age_text(int64_t ms) {
  auto s = ms / 1000;
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", (long long)s);
  return buf;
}

bool nodes(const call& c, const words_t&) {
  return c.show("GET", "/troupe/nodes", [&](auto d) {
    std::vector<words_t> rows;
    auto now = now_ms();
    for (auto n : array_of(d, "Nodes"))
      rows.push_back({text_of(n, "Name"), text_of(n, "State"),
                      age_text(now - std::atoll(text_of(n, "SinceMs").c_str())),
                      text_of(n, "Joins")});
    print_table(c.out, {"NODE", "STATE", "FOR", "JOINS"}, rows);
  });
}

bool gateways(const call& c, const words_t&) {
  return c.show("GET", "/troupe/gateways", [&](auto d) {
    std::vector<words_t> rows;
    for (auto g : array_of(d, "Gateways"))
      rows.push_back({text_of(g, "Id"), text_of(g, "Endpoint")});
    print_table(c.out, {"GATEWAY", "ENDPOINT"}, rows);
  });
}

bool instances(const call& c, const words_t& w) {
  std::string target = "/troupe/instances";
  if (w.size() > 1)
    target += "?function=" + (w[1].find('/') == std::string::npos ? c.opt.tenant + "/" : "") + w[1];
  return c.show("GET", target, [&](auto d) {
    std::vector<words_t> rows;
    for (auto i : array_of(d, "Instances"))
      rows.push_back({text_of(i, "Id"), text_of(i, "Tenant") + "/" + text_of(i, "FunctionName"),
                      text_of(i, "Host"), text_of(i, "State"),
                      age_text(std::atoll(text_of(i, "AgeMs").c_str())),
                      text_of(i, "Invocations")});
    print_table(c.out, {"INSTANCE", "FUNCTION", "HOST", "STATE", "AGE", "INVOCATIONS"}, rows);
  });
}

bool drain(const call& c, const words_t& w, bool on) {
  return c.show("POST", "/troupe/hosts/" + w[1] + (on ? "/drain" : "/undrain"), [&](auto) {
    c.out << w[1] << (on ? ": draining (no new instances; running ones finish)\n" : ": serving\n");
  });
}

bool breakers(const call& c, const words_t&) {
  return c.show("GET", "/troupe/routers", [&](auto d) {
    std::vector<words_t> rows;
    for (auto r : array_of(d, "Routers"))
      for (auto b : array_of(r, "Breakers"))
        rows.push_back({text_of(r, "Tenant") + "/" + text_of(r, "FunctionName"), text_of(b, "Host"),
                        text_of(b, "State"), text_of(b, "TimesOpened"), text_of(b, "Rejected"),
                        text_of(b, "Reason")});
    print_table(c.out, {"FUNCTION", "HOST", "STATE", "OPENED", "REJECTED", "REASON"}, rows);
  });
}

bool queues(const call& c, const words_t&) {
  return c.show("GET", "/troupe/routers", [&](auto d) { render_queues(c.out, d); });
}

/// watch [SECONDS]: status, hosts and queues, refreshed in place until
/// Ctrl-C (on a terminal; elsewhere each refresh follows the last).
bool watch(const call& c, const words_t& w) {
  long every = 2;
  if (w.size() > 1 && !whole_number(w[1], 1, 3600, every)) {
    c.err << "error: the refresh interval is 1 to 3600 seconds\n";
    return false;
  }
  for (long round = 1; c.opt.keep_following(); ++round) {
    std::ostringstream view, problems;
    call inner{c.opt, c.send, view, problems};
    // With --json, status's one document (hosts, routers, queue) a refresh.
    bool fine = status_view(inner, true);
    auto now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    if (c.opt.terminal && !c.opt.json)
      c.out << "\x1b[H\x1b[2J"; // home, clear: the view replaces the last
    if (!c.opt.json)
      c.out << "Every " << every << " s, " << stamp << " (refresh " << round
            << "; Ctrl-C ends)\n\n";
    c.out << view.str();
    if (!c.opt.json)
      c.out << "\n";
    c.out.flush();
    if (!fine) {
      c.err << problems.str();
      return false;
    }
    for (long slept = 0; slept < every * 10 && c.opt.keep_following(); ++slept)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

bool dlq(const call& c, const words_t& w) {
  std::string target = "/troupe/dead-letters?max-items=1000";
  if (w.size() > 1)
    target += "&function=" + (w[1].find('/') == std::string::npos ? c.opt.tenant + "/" : "") + w[1];
  return c.show("GET", target, [&](auto d) {
    std::vector<words_t> rows;
    for (auto l : array_of(d, "DeadLetters"))
      rows.push_back({text_of(l, "Id"), text_of(l, "Tenant") + "/" + text_of(l, "FunctionName"),
                      text_of(l, "Attempts"), text_of(l, "Reason"), text_of(l, "LastError")});
    print_table(c.out, {"ID", "FUNCTION", "ATTEMPTS", "REASON", "LAST ERROR"}, rows);
  });
}

bool redrive(const call& c, const words_t& w) {
  return c.show("POST", "/troupe/dead-letters/" + w[1] + "/redrive",
                [&](auto) { c.out << w[1] << ": queued again\n"; });
}

/// Each host's log of the function, as GET /troupe/logs answers it.
std::optional<std::vector<std::pair<std::string, std::string>>>
host_logs(const call& c, const std::string& id, std::string* raw) {
  auto reply = c.ask("GET", "/troupe/logs?function=" + id + "&max-bytes=1048576");
  if (!reply)
    return std::nullopt;
  if (raw)
    *raw = reply->body;
  document d{reply->body};
  std::vector<std::pair<std::string, std::string>> out;
  if (d.ok)
    for (auto h : array_of(d.root, "Hosts"))
      out.emplace_back(text_of(h, "Host"), text_of(h, "Log"));
  return out;
}

bool logs(const call& c, const words_t& w) {
  bool follow = w.size() > 2;
  if (follow && w[2] != "-f")
    return usage_error(*find_command("logs"), c.err);
  auto id = w[1].find('/') == std::string::npos ? c.opt.tenant + "/" + w[1] : w[1];
  std::string raw;
  auto first = host_logs(c, id, &raw);
  if (!first)
    return false;
  if (c.opt.json && !follow) {
    c.out << raw << "\n";
    return true;
  }
  std::map<std::string, std::string> seen; // per host: its log as last shown
  auto show_new = [&](const std::vector<std::pair<std::string, std::string>>& now) {
    for (const auto& [host, log] : now) {
      auto& before = seen[host];
      // What follows the last shown text; all of it when the log rotated past it.
      std::string fresh = log;
      if (!before.empty()) {
        auto tail = before.substr(before.size() > 256 ? before.size() - 256 : 0);
        auto at = log.rfind(tail);
        fresh = at == std::string::npos ? log : log.substr(at + tail.size());
      }
      if (!fresh.empty()) {
        if (c.opt.json) {
          net::json_writer j;
          c.out << j.begin_object().field("Host", host).field("Log", fresh).end_object().take()
                << "\n";
        } else {
          c.out << fresh;
        }
        c.out.flush();
      }
      before = log;
    }
  };
  show_new(*first);
  while (follow && c.opt.keep_following()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(c.opt.follow_interval_ms));
    if (!c.opt.keep_following())
      break;
    auto now = host_logs(c, id, nullptr);
    if (!now)
      return false;
    show_new(*now);
  }
  return true;
}

bool tenants(const call& c, const words_t&) {
  return c.show("GET", "/troupe/tenants", [&](auto d) {
    std::vector<words_t> rows;
    for (auto t : array_of(d, "Tenants"))
      for (auto k : array_of(t, "AccessKeys"))
        rows.push_back({text_of(t, "Name"), text_of(k, "AccessKeyId"),
                        text_of(k, "Operator") == "yes" ? "operator" : "tenant"});
    print_table(c.out, {"TENANT", "ACCESS KEY", "ACCESS"}, rows);
  });
}

bool key(const call& c, const words_t& w) {
  if (w[1] == "create" && (w.size() == 3 || (w.size() == 4 && w[3] == "--operator")))
    return c.show("POST",
                  "/troupe/tenants/" + w[2] + "/keys" + (w.size() == 4 ? "?operator=true" : ""),
                  [&](auto d) {
                    c.out << "tenant:            " << text_of(d, "Tenant") << "\n"
                          << "access key id:     " << text_of(d, "AccessKeyId") << "\n"
                          << "secret access key: " << text_of(d, "SecretAccessKey")
                          << "   (shown this once)\n";
                  });
  if (w[1] == "delete" && w.size() == 4) {
    if (!c.ask("DELETE", "/troupe/tenants/" + w[2] + "/keys/" + w[3]))
      return false;
    c.out << (c.opt.json ? "{}" : w[3] + ": deleted") << "\n";
    return true;
  }
  return usage_error(*find_command("key"), c.err);
}

/// egress [TENANT [allow RULE... | revoke RULE... | clear]]
bool egress(const call& c, const words_t& w) {
  auto render = [&](simdjson::dom::element d) {
    std::vector<words_t> rows;
    auto add = [&](simdjson::dom::element t) {
      auto rules = array_of(t, "Rules");
      if (rules.empty())
        rows.push_back({text_of(t, "Tenant"), "(none: every connection is refused)"});
      for (auto r : rules) {
        std::string_view text;
        rows.push_back({text_of(t, "Tenant"), r.get(text) ? "" : std::string{text}});
      }
    };
    if (w.size() == 1)
      for (auto t : array_of(d, "Tenants"))
        add(t);
    else
      add(d);
    print_table(c.out, {"TENANT", "ALLOWED"}, rows);
  };
  if (w.size() == 1)
    return c.show("GET", "/troupe/egress", render);
  auto path = "/troupe/egress/" + w[1];
  if (w.size() == 2)
    return c.show("GET", path, render);
  std::vector<std::string> rules;
  if (w[2] == "allow" || w[2] == "revoke") {
    if (w.size() < 4)
      return usage_error(*find_command("egress"), c.err);
    auto now = c.ask("GET", path);
    if (!now)
      return false;
    document d{now->body};
    for (auto r : d.ok ? array_of(d.root, "Rules") : std::vector<simdjson::dom::element>{}) {
      std::string_view text;
      if (!r.get(text))
        rules.emplace_back(text);
    }
    for (size_t i = 3; i < w.size(); ++i) {
      std::string error;
      auto rule = policy::parse_egress_rule(w[i], &error);
      if (!rule) {
        c.err << "error: " << error << "\n";
        return false;
      }
      auto at = std::find(rules.begin(), rules.end(), rule->text);
      if (w[2] == "allow" && at == rules.end())
        rules.push_back(rule->text);
      if (w[2] == "revoke" && at != rules.end())
        rules.erase(at);
    }
  } else if (w[2] != "clear" || w.size() != 3) {
    return usage_error(*find_command("egress"), c.err);
  }
  net::json_writer body;
  body.begin_object().key("Rules").begin_array();
  for (const auto& r : rules)
    body.value(r);
  body.end_array().end_object();
  return c.show("PUT", path, render, body.take());
}

/// deploy NAME DIR|ZIP [--runtime R] [--handler H] [--memory MB] [--timeout S]
bool deploy(const call& c, const words_t& w) {
  std::map<std::string, std::string> flags{{"--runtime", "provided"},
                                           {"--handler", "bootstrap"},
                                           {"--memory", "128"},
                                           {"--timeout", "3"}};
  for (std::size_t i = 3; i < w.size(); i += 2) {
    if (!flags.count(w[i]) || i + 1 >= w.size())
      return usage_error(*find_command("deploy"), c.err);
    flags[w[i]] = w[i + 1];
  }
  long memory = 0, timeout = 0;
  if (!whole_number(flags["--memory"], 128, 10240, memory) ||
      !whole_number(flags["--timeout"], 1, 900, timeout)) {
    c.err << "error: --memory is 128 to 10240 (MB), --timeout 1 to 900 (s)\n";
    return false;
  }
  std::string zip, error;
  std::error_code ec;
  if (fs::is_directory(w[2], ec)) {
    zip = zip_directory(w[2], error);
  } else if (std::ifstream in{w[2], std::ios::binary}) {
    zip.assign(std::istreambuf_iterator<char>{in}, {});
  } else {
    error = "cannot read " + w[2] + " (a directory or a zip archive)";
  }
  if (zip.empty()) {
    c.err << "error: " << (error.empty() ? w[2] + " is empty" : error) << "\n";
    return false;
  }
  auto code = net::base64_encode(zip);
  net::json_writer body;
  body.begin_object()
      .field("FunctionName", w[1])
      .field("Runtime", flags["--runtime"])
      .field("Handler", flags["--handler"])
      .field("MemorySize", int64_t(memory))
      .field("Timeout", int64_t(timeout))
      .field("Role", "arn:aws:iam::000000000000:role/troupe")
      .key("Code")
      .begin_object()
      .field("ZipFile", code)
      .end_object()
      .end_object();
  // Whether it exists: a 404 is the answer that says create it.
  auto exists = c.send({"", c.opt.tenant, "GET", functions_path + "/" + w[1], "", {}});
  if (exists.status != 404 && !c.checked(exists))
    return false;
  auto render = [&](simdjson::dom::element d) {
    c.out << text_of(d, "FunctionName") << ": deployed (" << text_of(d, "Runtime") << ", "
          << text_of(d, "MemorySize") << " MB, code " << text_of(d, "CodeSha256") << ")\n";
  };
  if (exists.status == 404)
    return c.show("POST", functions_path, render, body.take());
  // An existing function: its new code, then its settings.
  net::json_writer update;
  update.begin_object().field("ZipFile", code).end_object();
  if (!c.ask("PUT", functions_path + "/" + w[1] + "/code", update.take()))
    return false;
  net::json_writer settings;
  settings.begin_object()
      .field("Runtime", flags["--runtime"])
      .field("Handler", flags["--handler"])
      .field("MemorySize", int64_t(memory))
      .field("Timeout", int64_t(timeout))
      .end_object();
  return c.show("PUT", functions_path + "/" + w[1] + "/configuration", render, settings.take());
}

using handler = bool (*)(const call&, const words_t&);

struct entry {
  command_info info;
  std::size_t min_words, max_words; ///< the command's name included
  handler run;
};

const std::vector<entry>& table() {
  static const std::vector<entry> t{
      {{"help", "help [COMMAND]", "the commands, or one command's use", ""}, 1, 2, help},
      {{"status", "status", "the cluster in a few lines", ""}, 1, 1, status},
      {{"hosts", "hosts", "hosts: capacity, used slots, zone, breaker, state", ""}, 1, 1, hosts},
      {{"functions", "functions", "the tenant's functions", ""}, 1, 1, functions},
      {{"function", "function NAME", "one function's settings", "function"}, 2, 2, function},
      {{"deploy", "deploy NAME DIR|ZIP [--runtime R] [--handler H] [--memory MB] [--timeout S]",
        "creates a function from a directory or zip, or replaces its code and settings", ""},
       3,
       11,
       deploy},
      {{"invoke", "invoke NAME ['JSON']",
        "invokes a function and prints its answer (quote the JSON)", "function"},
       2,
       3,
       invoke},
      {{"concurrency", "concurrency NAME [N|none]", "shows or sets reserved concurrency",
        "function"},
       2,
       3,
       concurrency},
      {{"nodes", "nodes", "the cluster's nodes: up or down, and for how long", ""}, 1, 1, nodes},
      {{"gateways", "gateways", "the vpc_gateways instances' outbound connections go through", ""},
       1,
       1,
       gateways},
      {{"instances", "instances [NAME]", "instances: host, state, age, invocations", "function"},
       1,
       2,
       instances},
      {{"drain", "drain HOST", "places no new instances on a host", "host"},
       2,
       2,
       [](const call& c, const words_t& w) { return drain(c, w, true); }},
      {{"undrain", "undrain HOST", "places instances on a host again", "host"},
       2,
       2,
       [](const call& c, const words_t& w) { return drain(c, w, false); }},
      {{"breakers", "breakers", "each function's breakers per host (this node's routers)", ""},
       1,
       1,
       breakers},
      {{"queues", "queues", "requests waiting per function (this node's routers)", ""},
       1,
       1,
       queues},
      {{"dlq", "dlq [NAME]", "dead letters of asynchronous invocations", "function"}, 1, 2, dlq},
      {{"redrive", "redrive ID", "queues a dead letter again", ""}, 2, 2, redrive},
      {{"logs", "logs NAME [-f]", "a function's latest invocation logs; -f follows them",
        "function"},
       2,
       3,
       logs},
      {{"tenants", "tenants", "tenants and their access keys", ""}, 1, 1, tenants},
      {{"egress", "egress [TENANT [allow RULE... | revoke RULE... | clear]]",
        "where a tenant's functions may connect (CIDR, [IPv6]:PORTS, HOST:PORTS; none: nowhere)",
        ""},
       1,
       100,
       egress},
      {{"watch", "watch [SECONDS]", "status, hosts and queues, refreshed until Ctrl-C", ""},
       1,
       2,
       watch},
      {{"key", "key create TENANT [--operator] | key delete TENANT KEY-ID",
        "makes or deletes an access key", ""},
       3,
       4,
       key},
  };
  return t;
}

} // namespace

std::optional<std::vector<std::string>> split_words(const std::string& line, std::string& error) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (ch == '\\' && quote != '\'' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (quote) {
      if (ch == quote)
        quote = 0;
      else
        word += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      if (in_word)
        out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += ch;
      in_word = true;
    }
  }
  if (quote) {
    error = std::string{"unclosed "} + quote;
    return std::nullopt;
  }
  if (in_word)
    out.push_back(std::move(word));
  return out;
}

const std::vector<command_info>& commands() {
  static const std::vector<command_info> infos = [] {
    std::vector<command_info> v;
    for (const auto& e : table())
      v.push_back(e.info);
    return v;
  }();
  return infos;
}

bool run(const std::vector<std::string>& words, const options& opt, const transport& send,
         std::ostream& out, std::ostream& err) {
  if (words.empty())
    return true;
  for (const auto& e : table())
    if (e.info.name == words[0]) {
      if (words.size() < e.min_words || words.size() > e.max_words)
        return usage_error(e.info, err);
      return e.run(call{opt, send, out, err}, words);
    }
  err << "error: unknown command " << words[0] << " (help lists the commands)\n";
  return false;
}

std::vector<std::string> names_of(const std::string& completes, const options& opt,
                                  const transport& send) {
  std::vector<std::string> out;
  bool hosts = completes == "host";
  if (!hosts && completes != "function")
    return out;
  auto reply = send({"",
                     opt.tenant,
                     "GET",
                     hosts ? "/troupe/hosts" : functions_path + "/?MaxItems=10000",
                     "",
                     {}});
  document d{reply.body};
  if (reply.status != 200 || !d.ok)
    return out;
  for (auto x : array_of(d.root, hosts ? "Hosts" : "Functions"))
    out.push_back(text_of(x, hosts ? "Id" : "FunctionName"));
  return out;
}

std::string zip_directory(const std::string& dir, std::string& error) {
  std::string zip;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  archive_write_set_format_zip(a.get());
  auto append = [](archive*, void* data, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(data)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(a.get(), &zip, nullptr, append, nullptr) != ARCHIVE_OK) {
    error = archive_error_string(a.get());
    return {};
  }
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file())
      files.push_back(it->path());
  if (ec) {
    error = "cannot read " + dir + ": " + ec.message();
    return {};
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in{f, std::ios::binary};
    std::string data{std::istreambuf_iterator<char>{in}, {}};
    if (!in && !in.eof()) {
      error = "cannot read " + f.string();
      return {};
    }
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    &archive_entry_free);
    archive_entry_set_pathname(e.get(), fs::relative(f, dir).string().c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(fs::status(f).permissions()) & 0777);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        archive_write_data(a.get(), data.data(), data.size()) < 0) {
      error = archive_error_string(a.get());
      return {};
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    error = archive_error_string(a.get());
    return {};
  }
  if (files.empty())
    error = dir + " holds no files";
  return files.empty() ? std::string{} : zip;
}

} // namespace troupe::console
