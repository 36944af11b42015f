#pragma once
// Shared by the net/ tests: a server on 127.0.0.1:0 and bounded waits.

#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net/io_runtime.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace troupe::net::test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// Values handed from io threads to the test thread; every wait is bounded.
template <class T> class mailbox {
public:
  void put(T value) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(value));
    cv_.notify_all();
  }

  /// The oldest value, or nullopt when none arrives within `timeout`.
  std::optional<T> take(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); }))
      return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

/// Answers with "<method> <target>|<body>".
inline http_handler echo_handler() {
  return [](http_request req, http_responder respond) {
    respond(http_response{
        200, {{"Content-Type", "text/plain"}}, req.method + " " + req.target + "|" + req.body});
  };
}

inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

/// A server on a free loopback port, two io threads, and helper threads that
/// are joined before the server goes.
class server_fixture : public ::testing::Test {
protected:
  void start(http_handler handler, http_limits limits = {}) {
    server_ = std::make_unique<http_server>(io_, limits, std::move(handler));
    ASSERT_EQ(server_->listen("127.0.0.1", 0), "");
    ASSERT_NE(server_->port(), 0);
  }

  uint16_t port() const { return server_->port(); }

  http_client client(std::chrono::milliseconds timeout = 5s) {
    return http_client("127.0.0.1", port(), timeout);
  }

  /// Sends `bytes` on a fresh connection; returns all the server sent until it closed.
  std::string raw(const std::string& bytes, std::chrono::milliseconds timeout = 5s) {
    return http_client::raw_exchange("127.0.0.1", port(), bytes, timeout);
  }

  /// Runs `fn` on a helper thread (callable from io threads).
  template <class Fn> void spawn(Fn fn) {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads_.emplace_back(std::move(fn));
  }

  void TearDown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(threads_mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
    if (server_)
      server_->stop();
  }

  io_runtime io_{2};
  std::unique_ptr<http_server> server_;
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;
};

} // namespace troupe::net::test
