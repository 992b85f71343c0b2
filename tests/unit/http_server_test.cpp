// The HTTP server over real loopback sockets (port 0): limits, errors, keep-alive, timeouts and
// graceful shutdown with a request in flight.
#include "cshealthd/http/server.hpp"

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
