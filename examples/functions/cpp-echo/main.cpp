// A Lambda custom runtime (`provided`) in C++: speaks the Runtime API over one
// keep-alive connection and answers every event with the event itself.
// An event of {"crash": true} makes it exit, to show how crashes are reported.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

struct runtime_client {
  boost::asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::string host;

  explicit runtime_client(const std::string& address) {
    auto colon = address.rfind(':');
    host = address.substr(0, colon);
    // The Runtime API address is numeric (no name lookup in a static binary).
    auto port = static_cast<unsigned short>(std::stoi(address.substr(colon + 1)));
    stream.connect(tcp::endpoint{boost::asio::ip::make_address(host), port});
    stream.socket().set_option(tcp::no_delay(true));
  }

  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         std::string body = {}) {
    http::request<http::string_body> req{verb, "/2018-06-01/runtime/" + target, 11};
    req.set(http::field::host, host);
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }
};

} // namespace

int main() {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api) {
    std::cerr << "AWS_LAMBDA_RUNTIME_API is not set\n";
    return 1;
  }
  try {
    runtime_client client{api};
    for (;;) {
      auto next = client.call(http::verb::get, "invocation/next");
      auto id = std::string{next["Lambda-Runtime-Aws-Request-Id"]};
      if (next.body().find("\"crash\":true") != std::string::npos) {
        std::cerr << "crashing on request " << id << "\n";
        std::_Exit(3);
      }
      client.call(http::verb::post, "invocation/" + id + "/response", next.body());
    }
  } catch (const std::exception& e) {
    std::cerr << "runtime API: " << e.what() << "\n";
    return 1;
  }
}
