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
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

namespace {

template <class Fn> Fn libssl(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = libssl<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = libssl<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"
