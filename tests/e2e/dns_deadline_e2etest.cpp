// Name resolution runs under the connect deadline: a DNS server that never answers must not hold a
// sync (or a shutdown) for the resolver's own timeouts. The test gives this process a mount namespace
// of its own with a resolv.conf naming a loopback "server" that reads queries and never replies.
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/base/process.hpp"
#include "cshealthd/http/transport.hpp"
#include "daemon.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(DnsDeadlineTest, AResolverThatNeverAnswersEndsAtTheConnectDeadline) {
  if (!process::running_as_root()) GTEST_SKIP() << "needs root for a mount namespace and port 53";
  // Only this process (this test runs alone in it, as every ctest test does) sees the fake resolv.conf;
  // the namespace is private, so nothing reaches the host's mounts.
  if (::unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "no mount namespaces here: " << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  testing::TempDir dir;
  const auto conf = dir.path() / "resolv.conf";
  std::ofstream(conf) << "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n";
  ASSERT_EQ(::mount(conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);

  const int dns = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(53);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(dns, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(dns);
    GTEST_SKIP() << "port 53 on loopback is taken: " << std::strerror(errno);
  }

  http::TransportOptions o;
  o.base_url = "https://api.cshealthd-dns-test.invalid";
  o.connect_timeout = 300ms;
  auto transport = http::make_transport(o);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    transport->send({"GET", "/crm/v3/owners", {}, ""});
    FAIL() << "resolved a name nobody answers for";
  } catch (const http::TransportError& e) {
    EXPECT_THAT(e.what(), HasSubstr("resolve"));
  }
  // The resolver alone would take its 2 s (twice: A and AAAA) before failing.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  ::close(dns);
}

}  // namespace
}  // namespace cshealthd
