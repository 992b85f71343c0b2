// The HTTP server over real loopback sockets (port 0): limits, errors, keep-alive, timeouts and
// graceful shutdown with a request in flight.
#include "cshealthd/http/server.hpp"

#include <atomic>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "raw_http.hpp"

namespace cshealthd::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::RawConnection;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/hello", [](const Request& q) {
      return Response::json(200, {{"hello", "world"}, {"id", q.request_id}});
    });
    router_.add("POST", "/echo", [](const Request& q) { return Response::text(200, q.body); });
    router_.add("GET", "/slow", [this](const Request&) {
      entered_.set_value();
      release_.get_future().wait();
      return Response::text(200, "finished");
    });
    router_.add("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
    RouteOptions inline_route;
    inline_route.dispatch = RouteOptions::Dispatch::kInline;
    router_.add(
        "GET", "/live", [](const Request&) { return Response::text(200, "alive"); }, inline_route);
    RouteOptions guarded;
    guarded.precheck = [](const Request& q) -> std::optional<Response> {
      if (q.header("x-throw")) throw std::runtime_error("precheck exploded");
      if (!q.header("x-key")) return Response::error(401, "unauthorized", "no key");
      return std::nullopt;
    };
    router_.add(
        "POST", "/guarded", [](const Request& q) { return Response::text(200, q.body); }, guarded);
  }
  void start(ServerOptions opts = {}) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    server_ = std::make_unique<Server>(opts, router_, workers_, metrics_);
    server_->start();
    port_ = server_->port();
  }

  Router router_;
  WorkerPool workers_{2, "test-workers"};
  metrics::Registry metrics_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::promise<void> entered_, release_;
};

TEST_F(HttpServerTest, AnswersJsonWithRequestId) {
  start();
  const auto r = testing::http_request(port_, "GET", "/hello", "", {"X-Request-Id: my-req-1"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-request-id"), "my-req-1");
  EXPECT_EQ(nlohmann::json::parse(r.body)["id"], "my-req-1");
  // An unusable id is replaced, not echoed.
  const auto r2 = testing::http_request(port_, "GET", "/hello", "", {"X-Request-Id: bad id with spaces"});
  EXPECT_EQ(r2.header("x-request-id").size(), 16u);
}

TEST_F(HttpServerTest, UnknownRouteIs404Json) {
  start();
  const auto r = testing::http_request(port_, "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "not_found");
  EXPECT_EQ(body["error"]["status"], 404);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllowHeader) {
  start();
  const auto r = testing::http_request(port_, "DELETE", "/hello");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["code"], "method_not_allowed");
}

TEST_F(HttpServerTest, BodyAtLimitAcceptedOverLimitIs413) {
  ServerOptions opts;
  opts.max_body_bytes = 4096;
  start(opts);
  const auto ok = testing::http_request(port_, "POST", "/echo", std::string(4096, 'a'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), 4096u);
  const auto big = testing::http_request(port_, "POST", "/echo", std::string(4097, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(nlohmann::json::parse(big.body)["error"]["code"], "payload_too_large");
}

TEST_F(HttpServerTest, DefaultBodyLimitIsOneMebibyte) {
  start();
  EXPECT_EQ(testing::http_request(port_, "POST", "/echo", std::string(1 << 20, 'a')).status, 200);
  EXPECT_EQ(testing::http_request(port_, "POST", "/echo", std::string((1 << 20) + 1, 'a')).status, 413);
}

TEST_F(HttpServerTest, OversizedHeadersAre431) {
  start();
  const auto r = testing::http_request(port_, "GET", "/hello", "", {"X-Big: " + std::string(9000, 'h')});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["code"], "headers_too_large");
  EXPECT_EQ(testing::http_request(port_, "GET", "/hello", "", {"X-Big: " + std::string(7000, 'h')}).status,
            200);
}

TEST_F(HttpServerTest, MalformedRequestIs400AndClosed) {
  start();
  RawConnection c(port_);
  ASSERT_TRUE(c.send("GARBAGE\x01 / HTTP/1.1\r\n\r\n"));
  const auto r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpServerTest, HandlerExceptionIs500WithoutDetails) {
  start();
  const auto r = testing::http_request(port_, "GET", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("boom")));
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  RawConnection c(port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto r = c.read_response();
    EXPECT_EQ(r.status, 200) << "request " << i;
    EXPECT_EQ(r.header("connection"), "");  // HTTP/1.1 keep-alive is implicit
  }
}

TEST_F(HttpServerTest, IdleConnectionDroppedAfterReadTimeout) {
  ServerOptions opts;
  opts.read_timeout = 300ms;
  start(opts);
  RawConnection slow(port_, 5s);
  ASSERT_TRUE(slow.send("GET /hello HTTP/1.1\r\nHost: x\r\n"));  // never finishes its headers
  EXPECT_TRUE(slow.closed_by_peer());
}

// One deadline for the whole request: a client sending a byte at a time, each well within any per-read
// timeout, is still dropped when the request's deadline passes.
TEST_F(HttpServerTest, TricklingClientIsDroppedAtTheRequestDeadline) {
  ServerOptions opts;
  opts.read_timeout = 600ms;
  start(opts);
  RawConnection trickle(port_, 5s);
  const std::string request =
      "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n";
  const auto t0 = std::chrono::steady_clock::now();
  bool dropped = false;
  for (const char c : request) {
    if (!trickle.send(std::string(1, c))) {
      dropped = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
    if (std::chrono::steady_clock::now() - t0 > 3s) break;
  }
  EXPECT_TRUE(dropped || trickle.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // well before the whole request was sent (4 s)
  EXPECT_EQ(metrics_.counter("cshealthd_http_timeouts_total", "", {{"phase", "request"}}).value(), 1u);
}

// A keep-alive connection may wait for its next request longer than one request may take to send.
TEST_F(HttpServerTest, IdleTimeoutIsSeparateFromTheRequestDeadline) {
  ServerOptions opts;
  opts.read_timeout = 200ms;
  opts.idle_timeout = 5s;
  start(opts);
  RawConnection c(port_);
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(c.read_response().status, 200);
  std::this_thread::sleep_for(600ms);  // idle three request deadlines long
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 200);

  ServerOptions short_idle;
  short_idle.idle_timeout = 200ms;
  start(short_idle);
  RawConnection idle(port_, 5s);
  EXPECT_TRUE(idle.closed_by_peer());
}

TEST_F(HttpServerTest, RawBytesInPathQueryAndHeadersAre4xxAndTheServerKeepsServing) {
  start();
  // The decoded path is not UTF-8: the 404 still serialises (the byte becomes U+FFFD) and is JSON.
  const auto pct = testing::http_request(port_, "GET", "/%ff");
  EXPECT_EQ(pct.status, 404);
  EXPECT_EQ(nlohmann::json::parse(pct.body)["error"]["code"], "not_found");
  for (int b = 0x80; b <= 0xFF; b += 0x11) {
    const std::string raw(1, static_cast<char>(b));
    const auto path = testing::http_request(port_, "GET", "/x" + raw + "y");
    EXPECT_GE(path.status, 400) << b;
    EXPECT_LT(path.status, 500) << b;
    if (path.status == 404) {
      EXPECT_TRUE(nlohmann::json::accept(path.body)) << b;
    }
    const auto query = testing::http_request(port_, "GET", "/hello?q=" + raw + "&%ff=%fe");
    EXPECT_EQ(query.status, 200) << b;
    const auto header = testing::http_request(port_, "GET", "/hello", "", {"X-Odd: a" + raw + "b"});
    EXPECT_EQ(header.status, 200) << b;
  }
  EXPECT_EQ(testing::http_request(port_, "GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, AnExceptionOnAnIoThreadClosesThatConnectionOnly) {
  start();
  RawConnection bad(port_);
  ASSERT_TRUE(bad.send("POST /guarded HTTP/1.1\r\nHost: x\r\nX-Throw: 1\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(bad.closed_by_peer());
  EXPECT_EQ(metrics_.counter("cshealthd_http_connection_errors_total", "").value(), 1u);
  EXPECT_EQ(testing::http_request(port_, "GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, PrecheckAnswersOnTheHeadersWithoutReadingTheBody) {
  start();
  RawConnection c(port_);
  // Announces a megabyte and sends none of it: the 401 comes anyway, and the connection is closed.
  ASSERT_TRUE(c.send("POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
  const auto r = c.read_response();
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(c.closed_by_peer());
  const auto ok = testing::http_request(port_, "POST", "/guarded", "payload", {"X-Key: k"});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "payload");
}

TEST_F(HttpServerTest, ConnectionsPastTheCapAreClosedAtOnceAndCounted) {
  ServerOptions opts;
  opts.max_connections = 3;
  start(opts);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(held.back()->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(held.back()->read_response().status, 200);  // admitted and still open
  }
  RawConnection extra(port_, 5s);
  EXPECT_TRUE(extra.closed_by_peer());
  EXPECT_EQ(metrics_.counter("cshealthd_http_connections_refused_total", "").value(), 1u);
  held.pop_back();  // a place frees up
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = testing::http_request(port_, "GET", "/hello").status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, UnknownMethodTokensShareOneMetricLabel) {
  start();
  for (int i = 0; i < 200; ++i) {
    RawConnection c(port_);
    ASSERT_TRUE(c.send("M" + std::to_string(i) + "X /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(c.read_response().status, 405);
  }
  const auto series = [&] {
    const auto text = metrics_.render();
    std::size_t n = 0;
    for (std::size_t at = 0; (at = text.find("cshealthd_http_requests_total{", at)) != std::string::npos;
         ++at)
      ++n;
    return n;
  };
  for (int i = 0;
       i < 200 && metrics_.render().find("method=\"other\",status=\"405\"} 200") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_THAT(
      metrics_.render(),
      HasSubstr("cshealthd_http_requests_total{route=\"/hello\",method=\"other\",status=\"405\"} 200"));
  EXPECT_EQ(series(), 1u);
}

TEST_F(HttpServerTest, ErrorBodiesNeverEchoInvalidUtf8) {
  const auto r = Response::error(404, "not_found", std::string("no route for /\xff\xfe\x80"));
  const auto body = nlohmann::json::parse(r.body);  // would throw on invalid UTF-8
  EXPECT_EQ(body["error"]["message"], "no route for /\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  const auto long_message = Response::error(400, "x", std::string(100'000, 'a'));
  EXPECT_LT(long_message.body.size(), 1'000u);
}

// A full worker queue answers 503 with Retry-After at once; inline routes still answer.
TEST(HttpServerOverloadTest, FullWorkerQueueIs503WithRetryAfterAndInlineRoutesStillAnswer) {
  Router router;
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<bool> first{true};
  router.add("GET", "/slow", [&](const Request&) {
    if (first.exchange(false)) entered.set_value();
    released.wait();
    return Response::text(200, "done");
  });
  RouteOptions inline_route;
  inline_route.dispatch = RouteOptions::Dispatch::kInline;
  router.add(
      "GET", "/healthz", [](const Request&) { return Response::text(200, "ok"); }, inline_route);
  WorkerPool workers(1, "t", 1);
  metrics::Registry metrics;
  Server server(ServerOptions{}, router, workers, metrics);
  server.start();
  RawConnection busy(server.port());
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  entered.get_future().wait();
  RawConnection queued(server.port());
  ASSERT_TRUE(queued.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 200 && workers.queued() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(workers.queued(), 1u);
  const auto refused = testing::http_request(server.port(), "GET", "/slow");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(nlohmann::json::parse(refused.body)["error"]["code"], "overloaded");
  EXPECT_EQ(metrics.counter("cshealthd_http_overloaded_total", "").value(), 1u);
  EXPECT_EQ(testing::http_request(server.port(), "GET", "/healthz").status, 200);
  release.set_value();
  EXPECT_EQ(busy.read_response().status, 200);
  EXPECT_EQ(queued.read_response().status, 200);
  EXPECT_TRUE(server.shutdown(5s));
}

TEST_F(HttpServerTest, CountsRequestsByRouteAndStatus) {
  start();
  testing::http_request(port_, "GET", "/hello");
  testing::http_request(port_, "GET", "/nope");
  // Each metric is recorded when its write completes, just after the client has its bytes: the two
  // connections' records may land in either order, and after this thread reads its answers.
  auto recorded = [&] {
    const auto text = metrics_.render();
    return text.find("route=\"unmatched\"") != std::string::npos &&
           text.find("route=\"/hello\"") != std::string::npos;
  };
  for (int i = 0; i < 500 && !recorded(); ++i) std::this_thread::sleep_for(10ms);
  const auto text = metrics_.render();
  EXPECT_THAT(text,
              HasSubstr("cshealthd_http_requests_total{route=\"/hello\",method=\"GET\",status=\"200\"} 1"));
  EXPECT_THAT(
      text, HasSubstr("cshealthd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"));
  EXPECT_THAT(text, HasSubstr("cshealthd_http_request_duration_seconds_count{route=\"/hello\"} 1"));
}

TEST_F(HttpServerTest, ShutdownLetsRequestInFlightFinishAndRefusesNewOnes) {
  start();
  RawConnection busy(port_);
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  entered_.get_future().wait();  // the handler is running

  RawConnection idle(port_);  // a keep-alive connection with nothing in flight
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(idle.read_response().status, 200);

  auto done = std::async(std::launch::async, [&] { return server_->shutdown(10s); });
  EXPECT_TRUE(idle.closed_by_peer());                            // the idle connection is closed at once
  EXPECT_EQ(done.wait_for(200ms), std::future_status::timeout);  // still waiting for /slow
  release_.set_value();
  const auto r = busy.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finished");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_TRUE(done.get());
  EXPECT_FALSE(RawConnection(port_).connected());  // no longer accepting
}

TEST_F(HttpServerTest, ShutdownDeadlineReportsUnfinishedWork) {
  start();
  RawConnection busy(port_);
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  entered_.get_future().wait();
  EXPECT_FALSE(server_->shutdown(100ms));
  release_.set_value();  // let the worker finish so the pool can join
  EXPECT_TRUE(workers_.shutdown());
}

}  // namespace
}  // namespace cshealthd::http
