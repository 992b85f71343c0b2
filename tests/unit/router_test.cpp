#include "cshealthd/http/router.hpp"

#include <gtest/gtest.h>

namespace cshealthd::http {
namespace {

Router make_router() {
  Router r;
  r.add("GET", "/healthz", [](const Request&) { return Response::text(200, "ok"); });
  r.add("GET", "/v1/companies/{id}/health",
        [](const Request& q) { return Response::text(200, q.params.at("id")); });
  r.add("PUT", "/v1/companies/{id}/override", [](const Request&) { return Response::text(200, "put"); });
  r.add("DELETE", "/v1/companies/{id}/override", [](const Request&) { return Response::text(204, ""); });
  return r;
}

TEST(RouterTest, ExactAndParameterRoutes) {
  const auto r = make_router();
  auto m = r.match("GET", "/healthz");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.route, "/healthz");
  m = r.match("GET", "/v1/companies/512/health");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("id"), "512");
  EXPECT_EQ(m.route, "/v1/companies/{id}/health");
}

TEST(RouterTest, UnknownPathIs404) {
  const auto r = make_router();
  EXPECT_EQ(r.match("GET", "/nope").status, 404);
  EXPECT_EQ(r.match("GET", "/healthz/extra").status, 404);
  EXPECT_EQ(r.match("GET", "/v1/companies//health").status, 404);  // empty parameter
  EXPECT_EQ(r.match("GET", "").status, 404);
  EXPECT_EQ(r.match("GET", "/nope").route, "unmatched");
}

TEST(RouterTest, WrongMethodIs405WithAllow) {
  const auto r = make_router();
  auto m = r.match("POST", "/healthz");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET");
  m = r.match("GET", "/v1/companies/7/override");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "DELETE, PUT");
}

TEST(MessageTest, PercentDecodingAndQuery) {
  EXPECT_EQ(percent_decode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("bad%zz%4", false), "bad%zz%4");
  const auto q = parse_query("status=red&segment=high%20touch&limit=10&flag");
  EXPECT_EQ(q.at("status"), "red");
  EXPECT_EQ(q.at("segment"), "high touch");
  EXPECT_EQ(q.at("limit"), "10");
  EXPECT_EQ(q.at("flag"), "");
}

TEST(MessageTest, HeaderLookupIsCaseInsensitive) {
  Request q;
  q.headers = {{"x-request-id", "abc"}};
  ASSERT_NE(q.header("X-Request-Id"), nullptr);
  EXPECT_EQ(*q.header("X-REQUEST-ID"), "abc");
  EXPECT_EQ(q.header("missing"), nullptr);
}

}  // namespace
}  // namespace cshealthd::http
