// troupe-admin: the operator's console. Connects to a cluster's admin actor
// over CAF (TLS unless --plaintext), then runs commands from -c, from a script
// on standard input, or interactively with libedit (history, completion).
#include "actors/admin_console.hpp"
#include "actors/node_config.hpp"
#include "actors/protocol/admin.hpp"
#include "actors/protocol/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <editline/readline.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace troupe;

const char* usage_text =
    "usage: troupe-admin [--connect HOST:PORT] [--token-file FILE] [--tenant T] [--json]\n"
    "                    [--plaintext] [-c COMMAND] [--openssl.certificate=F --openssl.key=F\n"
    "                    --openssl.cafile=F]\n"
    "  --connect     the controller node's admin.listen (default 127.0.0.1:9470,\n"
    "                or $TROUPE_ADMIN_CONNECT)\n"
    "  --token-file  the file holding the admin token (or $TROUPE_ADMIN_TOKEN_FILE)\n"
    "  --tenant      whose functions the function commands act on (default 'default')\n"
    "  --json        print the API's JSON documents instead of tables\n"
    "  --plaintext   connect without TLS (a node with admin.plaintext=true)\n"
    "  -c COMMAND    run one command and exit; without -c, commands come from\n"
    "                standard input, interactively when it is a terminal\n"
    "Exit status: 0 when every command succeeded, 1 when one failed, 2 for bad usage.\n";

/// The console's own settings; what it does not know goes to CAF (openssl.*).
struct console_args {
  std::string connect;
  std::string token_file;
  std::string command;
  bool has_command = false;
  bool plaintext = false;
  console::options opt;
  std::vector<std::string> caf_args;
};

std::optional<console_args> parse_args(int argc, char** argv) {
  console_args a;
  if (auto* env = std::getenv("TROUPE_ADMIN_CONNECT"))
    a.connect = env;
  if (auto* env = std::getenv("TROUPE_ADMIN_TOKEN_FILE"))
    a.token_file = env;
  if (a.connect.empty())
    a.connect = "127.0.0.1:9470";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string& name, std::string& into) {
      if (arg == name && i + 1 < argc) {
        into = argv[++i];
        return true;
      }
      if (arg.rfind(name + "=", 0) == 0) {
        into = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (arg == "-c" && i + 1 < argc) {
      a.command = argv[++i];
      a.has_command = true;
    } else if (arg == "--json") {
      a.opt.json = true;
    } else if (arg == "--plaintext") {
      a.plaintext = true;
    } else if (value("--connect", a.connect) || value("--token-file", a.token_file) ||
               value("--tenant", a.opt.tenant)) {
    } else if (arg.rfind("--openssl.", 0) == 0) {
      a.caf_args.push_back(arg);
    } else {
      std::cerr << "troupe-admin: unknown argument " << arg << "\n" << usage_text;
      return std::nullopt;
    }
  }
  return a;
}

class admin_config : public caf::actor_system_config {
public:
  admin_config() { register_troupe_types(*this); }
};

/// The connection to the admin actor, made again at the next request after
/// it was lost.
class session {
public:
  session(caf::actor_system& sys, std::string host, uint16_t port, bool tls, std::string token)
      : sys_(sys), host_(std::move(host)), port_(port), tls_(tls), token_(std::move(token)) {}

  admin_reply send(admin_request r) {
    if (!admin_ && !connect())
      return {0, last_error_, {}};
    r.token = token_;
    // An invocation may run 15 minutes; everything else answers in seconds.
    auto timeout = r.target.find("/invocations") != std::string::npos ? std::chrono::minutes(16)
                                                                      : std::chrono::minutes(1);
    caf::scoped_actor self{sys_};
    admin_reply out{0, "", {}};
    // Monitored: a node that went away is told at once (a request to a lost
    // node's actor would wait for its timeout).
    self->monitor(admin_);
    self->send(admin_, admin_atom::value, std::move(r));
    auto lost = [&](const std::string& why) {
      out.body = "the connection to " + where() + " was lost (" + why +
                 "); the next command connects again";
      admin_ = nullptr;
    };
    self->receive([&](admin_reply& reply) { out = std::move(reply); },
                  [&](caf::down_msg& down) { lost(sys_.render(down.reason)); },
                  [&](caf::error& err) { lost(sys_.render(err)); },
                  caf::after(timeout) >> [&] { lost("no answer in time"); });
    if (admin_)
      self->demonitor(caf::actor_cast<caf::actor>(admin_));
    return out;
  }

  /// Connects now; false (and the reason kept) when it cannot.
  bool connect() {
    auto hdl = tls_ ? caf::openssl::remote_actor<admin_actor>(sys_, host_, port_)
                    : sys_.middleman().remote_actor<admin_actor>(host_, port_);
    if (!hdl) {
      last_error_ = "cannot reach the admin console at " + where() + ": " +
                    sys_.render(hdl.error()) +
                    (tls_ ? " (TLS; --plaintext for a node with admin.plaintext=true)" : "");
      return false;
    }
    admin_ = *hdl;
    return true;
  }

  const std::string& last_error() const { return last_error_; }

  /// send(), as the console's commands take it.
  console::transport transport() {
    return [this](admin_request r) { return send(std::move(r)); };
  }

private:
  std::string where() const { return host_ + ":" + std::to_string(port_); }

  caf::actor_system& sys_;
  std::string host_;
  uint16_t port_;
  bool tls_;
  std::string token_;
  admin_actor admin_;
  std::string last_error_;
};

// --- interactive use ---------------------------------------------------------

std::atomic<bool> interrupted{false};

void on_interrupt(int) {
  interrupted = true;
}

/// `signals` (Ctrl-C's SIGINT, ...) end what follows (`logs -f`, `watch`),
/// not the console.
void follow_until(std::initializer_list<int> signals, console::options& opt) {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  for (int sig : signals)
    sigaction(sig, &sa, nullptr);
  opt.keep_following = [] { return !interrupted.load(); };
}

session* completing_session = nullptr;
const console::options* completing_options = nullptr;
std::vector<std::string> candidates;

char* next_candidate(const char* text, int state) {
  static std::size_t i;
  if (state == 0)
    i = 0;
  std::string prefix = text;
  while (i < candidates.size()) {
    const auto& c = candidates[i++];
    if (c.compare(0, prefix.size(), prefix) == 0)
      return strdup(c.c_str());
  }
  return nullptr;
}

/// Completes a command's name as the first word, then what its arguments name.
char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1; // never file names
  std::string line{rl_line_buffer, static_cast<std::size_t>(start)};
  std::string error;
  auto words = console::split_words(line, error);
  candidates.clear();
  if (!words || words->empty()) {
    for (const auto& c : console::commands())
      candidates.push_back(c.name);
  } else if (words->size() == 1) {
    for (const auto& c : console::commands())
      if (c.name == (*words)[0])
        candidates =
            console::names_of(c.completes, *completing_options, completing_session->transport());
  }
  return rl_completion_matches(text, next_candidate);
}

std::string history_file() {
  if (auto* env = std::getenv("TROUPE_ADMIN_HISTORY"))
    return env;
  auto* home = std::getenv("HOME");
  return std::string{home ? home : "."} + "/.troupe_admin_history";
}

int interactive(session& s, console::options opt) {
  completing_session = &s;
  completing_options = &opt;
  rl_attempted_completion_function = complete;
  rl_readline_name = const_cast<char*>("troupe-admin");
  auto history = history_file();
  using_history();
  read_history(history.c_str());
  stifle_history(1000);
  follow_until({SIGINT}, opt);
  std::cout << "troupe-admin: connected. 'help' lists the commands; Ctrl-D leaves.\n";
  int status = 0;
  while (char* raw = readline("troupe> ")) {
    std::string line = raw;
    std::free(raw);
    interrupted = false;
    std::string error;
    auto words = console::split_words(line, error);
    if (!words) {
      std::cerr << "error: " << error << "\n";
      continue;
    }
    if (words->empty())
      continue;
    add_history(line.c_str());
    if ((*words)[0] == "quit" || (*words)[0] == "exit")
      break;
    status = console::run(*words, opt, s.transport(), std::cout, std::cerr) ? 0 : 1;
  }
  write_history(history.c_str());
  return status;
}

int script(session& s, const console::options& opt) {
  int status = 0;
  std::string line;
  for (int number = 1; std::getline(std::cin, line); ++number) {
    std::string error;
    auto words = console::split_words(line, error);
    if (!words) {
      std::cerr << "line " << number << ": error: " << error << "\n";
      status = 1;
      continue;
    }
    if (!words->empty() && (*words)[0][0] == '#')
      continue;
    if (!console::run(*words, opt, s.transport(), std::cout, std::cerr))
      status = 1;
  }
  return status;
}

} // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (!args)
    return 2;
  std::string host, error;
  uint16_t port = 0;
  if (!parse_endpoint(args->connect, host, port, error) || port == 0) {
    std::cerr << "troupe-admin: --connect " << args->connect << ": "
              << (error.empty() ? "needs a port" : error) << "\n";
    return 2;
  }
  if (args->token_file.empty()) {
    std::cerr << "troupe-admin: the admin token is needed: --token-file FILE (the node's "
                 "admin.token-file)\n";
    return 2;
  }
  auto token = read_admin_token(args->token_file, error);
  if (token.empty()) {
    std::cerr << "troupe-admin: " << error << "\n";
    return 2;
  }
  admin_config cfg;
  cfg.load<caf::io::middleman>();
  if (!args->plaintext)
    cfg.load<caf::openssl::manager>();
  std::vector<char*> caf_argv{argv[0]};
  for (auto& a : args->caf_args)
    caf_argv.push_back(a.data());
  if (auto err = cfg.parse(static_cast<int>(caf_argv.size()), caf_argv.data())) {
    std::cerr << "troupe-admin: " << caf::to_string(err) << "\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  args->opt.terminal = isatty(STDOUT_FILENO);
  session s{sys, host, port, !args->plaintext, token};
  if (!s.connect()) {
    std::cerr << "troupe-admin: " << s.last_error() << "\n";
    return 1;
  }
  if (args->has_command) {
    std::string error;
    auto words = console::split_words(args->command, error);
    if (!words) {
      std::cerr << "troupe-admin: " << error << "\n";
      return 2;
    }
    follow_until({SIGINT, SIGTERM}, args->opt);
    return console::run(*words, args->opt, s.transport(), std::cout, std::cerr) ? 0 : 1;
  }
  if (isatty(STDIN_FILENO))
    return interactive(s, args->opt);
  return script(s, args->opt);
}
