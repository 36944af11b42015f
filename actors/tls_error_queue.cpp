// Linked into troupe-node: clears the thread's OpenSSL error queue before each
// TLS call that caf_openssl 0.17.6 makes and then checks with SSL_get_error().
//
// SSL_get_error(3) needs an empty error queue before the call it explains, and
// CAF 0.17.6 never clears it. When one peer's connection fails (a host killed),
// its error stays queued on the multiplexer thread, and the next read of a
// healthy connection on that thread reports SSL_ERROR_SSL: CAF closes it too.
// Measured here: killing one of two hosts dropped the other host's connection
// every time (tests/integration/cluster_test.cpp covers it). The same bug was
// fixed in CAF's successor transport (zeek/broker pull request 278) by
// clearing the queue before every call. Debian's CAF cannot be patched here,
// so troupe-node defines these functions itself: the dynamic linker binds
// libcaf_openssl's references to the executable's definitions first, and
// each forwards to libssl's own.
//
// A second guard: a TLS handshake gets 10 s. caf_openssl 0.17.6 writes BASP's
// first message while the handshake is still running; SSL_write then wants to
// read, CAF keeps waiting for writability, and the always-writable socket
// wakes the multiplexer in a busy loop until the peer's next flight arrives.
// A peer that never sends it (measured: a joining node whose handshake was cut
// by its heartbeat timeout under heavy load left its socket open) kept one
// core at 100% and the connection open for good. Past 10 s the call fails as
// an SSL error, and CAF closes the connection.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <ctime>
#include <dlfcn.h>

namespace {

template <class Fn> Fn libssl(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

constexpr int64_t handshake_limit_ms = 10'000;

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

/// Where each session keeps the time its handshake began (plus one, so that
/// zero means "not seen yet").
int started_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

/// Clears the thread's error queue, then whether the session's handshake is
/// still unfinished past the limit (an SSL error is queued for it then).
bool prepare(SSL* ssl) {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl))
    return false;
  auto now = monotonic_ms();
  auto stamp = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, started_index()));
  if (stamp == 0) {
    SSL_set_ex_data(ssl, started_index(), reinterpret_cast<void*>(intptr_t(now + 1)));
    return false;
  }
  if (now - (stamp - 1) <= handshake_limit_ms)
    return false;
  ERR_raise_data(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR, "TLS handshake took longer than 10 s");
  return true;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = libssl<int (*)(SSL*, void*, int)>("SSL_read");
  return prepare(ssl) ? -1 : real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = libssl<int (*)(SSL*, const void*, int)>("SSL_write");
  return prepare(ssl) ? -1 : real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_accept");
  return prepare(ssl) ? -1 : real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_connect");
  return prepare(ssl) ? -1 : real(ssl);
}

} // extern "C"
