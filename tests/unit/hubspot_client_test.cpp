// The HubSpot client against the simulator over loopback HTTP, with simulated time.
#include "cshealthd/hubspot/client.hpp"

#include <atomic>
#include <functional>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/http/server.hpp"
#include "fake_clock.hpp"
#include "in_process.hpp"

namespace cshealthd::hubspot {
using http::HttpRequest;
using http::HttpResponse;
using http::make_transport;
using http::Transport;
using http::TransportError;
using http::TransportOptions;
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TransportOptions to(std::string url, std::chrono::milliseconds timeout = 5s) {
  TransportOptions o;
  o.base_url = std::move(url);
  o.connect_timeout = timeout;
  o.request_timeout = timeout;
  return o;
}

class ClientTest : public ::testing::Test {
 protected:
  // (Re)starts the simulator; a previous one is stopped first, server before the routes it serves.
  void start(const std::string& faults = "", int companies = 120, int burst = 0) {
    client_.reset();
    sim_.reset();
    auto o = sim::unlimited("tok-SECRET");
    o.limits.burst = burst;
    o.faults = faults;
    sim_ = std::make_unique<sim::InProcessSimulator>(o, companies, 9);
    transport_ = make_transport(to(sim_->base_url()));
    budget_ = std::make_unique<LocalRateBudget>(BudgetOptions{190, 10s, 0.9, 5}, clock_);
  }
  void TearDown() override {
    client_.reset();
    sim_.reset();
  }
  HubSpotClient& client(const std::string& token = "tok-SECRET") {
    ClientOptions co;
    co.jitter_seed = 7;
    client_ = std::make_unique<HubSpotClient>(*transport_, *budget_, clock_, Secret(token), metrics_, co);
    return *client_;
  }
  // Every company id and its cs_mrr, walking the list endpoint.
  std::map<std::string, std::string> all_companies(HubSpotClient& c) {
    std::map<std::string, std::string> out;
    ListQuery q;
    q.properties = {"cs_mrr", "cs_plan"};
    do {
      const Page p = c.list("companies", q);
      for (const auto& r : p.results) {
        const auto* v = r.property("cs_mrr");
        out[r.id] = v && v->is_string() ? v->text : "";
      }
      q.after = p.next_after;
    } while (!q.after.empty());
    return out;
  }

  testing::FakeClock clock_;
  metrics::Registry metrics_;
  std::unique_ptr<sim::InProcessSimulator> sim_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<LocalRateBudget> budget_;
  std::unique_ptr<HubSpotClient> client_;
};

TEST_F(ClientTest, ListsEveryRecordAcrossPages) {
  start();
  auto& c = client();
  const auto all = all_companies(c);
  EXPECT_EQ(all.size(), 120u);
  EXPECT_EQ(c.stats().calls, 2u);  // 100 + 20: the minimum
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST_F(ClientTest, FaultsDoNotChangeTheResult) {
  start("", 1000);
  const auto clean = all_companies(client());
  // About one request in three fails in some way: far worse than HubSpot, within 8 attempts.
  // A 429 on exactly the third call keeps rate limiting in the mix whatever the seed draws.
  start(
      "seed=3;5xx=0.1,429=0.05,storm=0.02x3,drop_before=0.05,drop_after=0.05,truncate=0.05;"
      "route=/crm/v3/objects/companies,skip=2,count=1,429=1",
      1000);
  auto& c = client();
  const auto faulty = all_companies(c);
  EXPECT_EQ(faulty, clean);
  EXPECT_GT(c.stats().retries, 0u);
  EXPECT_GT(c.stats().rate_limited, 0u);
  EXPECT_GT(clock_.slept_ms(), 0);  // it waited (in simulated time)
}

TEST_F(ClientTest, RateLimitStormIsWaitedOutWithoutRetryAfter) {
  start("route=/crm/v3/objects/companies,count=3,429=1");
  auto& c = client();
  ListQuery q;
  q.limit = 10;
  const std::int64_t before = clock_.slept_ms();
  EXPECT_EQ(c.list("companies", q).results.size(), 10u);
  EXPECT_EQ(c.stats().rate_limited, 3u);
  EXPECT_GE(clock_.slept_ms() - before, 3 * 10'000);  // a full interval after each 429
}

TEST_F(ClientTest, RejectionsAreTypedAndCarryHubSpotsWordsButNotTheToken) {
  start();
  try {
    client("wrong-token").list("companies", {});
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kUnauthorized);
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.category(), "INVALID_AUTHENTICATION");
    EXPECT_FALSE(e.correlation_id().empty());
    EXPECT_THAT(e.what(), HasSubstr("correlationId"));
    EXPECT_THAT(e.what(), Not(HasSubstr("wrong-token")));
  }
  EXPECT_EQ(client_->stats().calls, 1u);  // never retried
  try {
    client().call("objects.get", "GET", "/crm/v3/objects/companies/1");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kNotFound);
  }
}

// JSON of the wrong shape reads the same every time: an error naming the call, not retried, and never
// an empty page (which would end a full sync early).
TEST_F(ClientTest, AnAnswerOfTheWrongShapeIsAnErrorNotAnEmptyPage) {
  start("route=/crm/v3/objects/companies,count=1,wrong_shape=1");
  auto& c = client();
  try {
    c.list("companies", {});
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kRejected);
    EXPECT_EQ(e.status(), 200);
    EXPECT_THAT(e.what(), HasSubstr("objects.list: malformed answer: results is not a list"));
  }
  EXPECT_EQ(c.stats().calls, 1u);
  EXPECT_EQ(c.list("companies", {}).results.size(), 100u);  // the next answer is whole again
}

TEST_F(ClientTest, PersistentFailureEndsAfterBoundedAttempts) {
  start("route=/crm/v3/objects/companies,5xx=1");
  auto& c = client();
  try {
    c.list("companies", {});
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kUnavailable);
  }
  EXPECT_EQ(c.stats().calls, 8u);  // max_attempts
}

TEST_F(ClientTest, BatchReadSearchAssociationsOwnersPipelines) {
  start();
  auto& c = client();
  const auto first = c.list("companies", {});
  std::vector<std::string> ids = {first.results[0].id, first.results[1].id, "424242"};
  const auto read = c.batch_read("companies", ids, {"cs_mrr"}, {"cs_active_users_30d"});
  EXPECT_EQ(read.size(), 2u);  // the unknown id is left out (207)
  ASSERT_NE(read[0].history_of("cs_active_users_30d"), nullptr);
  EXPECT_FALSE(read[0].history_of("cs_active_users_30d")->empty());
  EXPECT_TRUE(read[0].property("cs_mrr") != nullptr);
  const auto hits = c.search(
      "tickets",
      {{"filterGroups",
        {{{"filters", {{{"propertyName", "hs_ticket_priority"}, {"operator", "EQ"}, {"value", "URGENT"}}}}}}},
       {"limit", 5}});
  ASSERT_TRUE(hits.total.has_value());
  EXPECT_LE(hits.results.size(), 5u);
  const auto assoc = c.associations("companies", "tickets", {ids[0], ids[1], "424242"});
  EXPECT_FALSE(assoc.links.count("424242"));
  EXPECT_TRUE(assoc.failed.empty());  // an id without associations is not a failure
  EXPECT_FALSE(c.owners().empty());
  EXPECT_EQ(c.pipelines("deals").size(), 2u);
  const auto props = c.properties("companies");
  EXPECT_TRUE(std::any_of(props.begin(), props.end(), [](const json& p) { return p["name"] == "cs_mrr"; }));
}

// A record's properties by name (their order is the order the answers sent them in).
std::map<std::string, Value> by_name(const Record& r) {
  return {r.properties.begin(), r.properties.end()};
}

TEST_F(ClientTest, LongPropertyListsAreSplitAndMerged) {
  start();
  ClientOptions co;
  co.max_url_chars = 40;  // forces several requests per page
  HubSpotClient c(*transport_, *budget_, clock_, Secret("tok-SECRET"), metrics_, co);
  ListQuery q;
  q.limit = 5;
  q.properties = {"cs_mrr",        "cs_plan",          "cs_licensed_seats", "cs_active_users_30d",
                  "cs_logins_30d", "cs_features_used", "cs_renewal_date",   "name"};
  const Page split = c.list("companies", q);
  EXPECT_GT(c.stats().calls, 1u);
  const Page whole = client().list("companies", q);
  ASSERT_EQ(split.results.size(), whole.results.size());
  for (std::size_t i = 0; i < split.results.size(); ++i)
    EXPECT_EQ(by_name(split.results[i]), by_name(whole.results[i]));
  EXPECT_EQ(chunk_names({"aaaa", "bbbb", "cccc"}, 10),
            (std::vector<std::vector<std::string>>{{"aaaa", "bbbb"}, {"cccc"}}));
}

TEST(TransportTest, PlainHttpOnlyForLoopbackAndTlsFailsClearly) {
  EXPECT_THROW(make_transport(to("http://api.hubapi.com")), std::invalid_argument);
  EXPECT_THROW(make_transport(to("ftp://x")), std::invalid_argument);
  EXPECT_NO_THROW(make_transport(to("https://api.hubapi.com")));
  // TLS against a plain-HTTP listener: the handshake fails, and says so.
  http::Router r;
  WorkerPool w(1, "t");
  metrics::Registry m;
  http::Server s({}, r, w, m);
  s.start();
  auto t = make_transport(to("https://127.0.0.1:" + std::to_string(s.port()), 2s));
  try {
    t->send({"GET", "/", {}, ""});
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tls handshake"));
  }
  s.shutdown(1s);
}

TEST(RateBudgetTest, NeverMoreThanTheLimitInAnyWindow) {
  testing::FakeClock clock;
  LocalRateBudget budget({10, 10s, 1.0, 5}, clock);
  std::vector<std::int64_t> sent;
  for (int i = 0; i < 25; ++i) {
    budget.acquire(Budget::kBurst);
    sent.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock.steady_now().time_since_epoch()).count());
  }
  for (std::size_t i = 10; i < sent.size(); ++i) EXPECT_GE(sent[i] - sent[i - 10], 10'000) << i;
  EXPECT_GE(clock.slept_ms(), 20'000);
  EXPECT_LT(clock.slept_ms(), 21'000);  // and no longer than needed
}

TEST(RateBudgetTest, SafetyMarginAndWhatOthersUsed) {
  testing::FakeClock clock;
  LocalRateBudget budget({100, 10s, 0.9, 5}, clock);
  EXPECT_EQ(budget.allowed(), 90);
  HttpResponse r;
  r.headers = {{"X-HubSpot-RateLimit-Max", "100"}, {"X-HubSpot-RateLimit-Remaining", "15"}};
  budget.observe(r);  // 85 used by someone: only 5 of our 90 are left in this window
  for (int i = 0; i < 5; ++i) budget.acquire(Budget::kBurst);
  EXPECT_EQ(clock.slept_ms(), 0);
  budget.acquire(Budget::kBurst);
  EXPECT_GE(clock.slept_ms(), 10'000);
}

// Configured for one-second windows against a portal that counts ten: its longer interval is taken (a
// shorter one is not, and none beyond a minute), so the budget does not run into 429s.
TEST(RateBudgetTest, ThePortalsLongerIntervalIsTaken) {
  testing::FakeClock clock;
  LocalRateBudget budget({10, 1s, 1.0, 5}, clock);
  HttpResponse r;
  r.headers = {{"X-HubSpot-RateLimit-Max", "10"},
               {"X-HubSpot-RateLimit-Remaining", "10"},
               {"X-HubSpot-RateLimit-Interval-Milliseconds", "10000"}};
  budget.observe(r);
  for (int i = 0; i < 10; ++i) budget.acquire(Budget::kBurst);
  EXPECT_EQ(clock.slept_ms(), 0);
  budget.acquire(Budget::kBurst);
  EXPECT_GE(clock.slept_ms(), 10'000);
  EXPECT_LT(clock.slept_ms(), 11'000);

  LocalRateBudget shorter({10, 10s, 1.0, 5}, clock);
  r.headers.back().second = "500";
  shorter.observe(r);
  for (int i = 0; i < 10; ++i) shorter.acquire(Budget::kBurst);
  auto before = clock.slept_ms();
  shorter.acquire(Budget::kBurst);
  EXPECT_GE(clock.slept_ms() - before, 9'000);  // still ten seconds

  LocalRateBudget hostile({10, 1s, 1.0, 5}, clock);
  r.headers.back().second = "86400000";
  hostile.observe(r);
  for (int i = 0; i < 10; ++i) hostile.acquire(Budget::kBurst);
  before = clock.slept_ms();
  hostile.acquire(Budget::kBurst);
  EXPECT_LE(clock.slept_ms() - before, 60'000);  // a minute at most
  EXPECT_GE(clock.slept_ms() - before, 59'000);
}

TEST(RateBudgetTest, SearchHasItsOwnBudgetAndPausesHold) {
  testing::FakeClock clock;
  LocalRateBudget budget({100, 10s, 1.0, 2}, clock);
  budget.acquire(Budget::kSearch);
  budget.acquire(Budget::kSearch);
  budget.acquire(Budget::kBurst);  // unaffected by search
  EXPECT_EQ(clock.slept_ms(), 0);
  budget.acquire(Budget::kSearch);
  EXPECT_GE(clock.slept_ms(), 1000);
  budget.pause(Budget::kBurst, 5s);
  const auto before = clock.slept_ms();
  budget.acquire(Budget::kBurst);
  EXPECT_GE(clock.slept_ms() - before, 4000);
}

// A HubSpot that answers what a test scripts, per path: hostile answers the simulator would never give.
class HostileHubSpot {
 public:
  using Script = std::function<http::Response(const http::Request&)>;
  explicit HostileHubSpot(Script script) : script_(std::move(script)) {
    router_.add("GET", "/crm/v3/objects/{type}", [this](const http::Request& q) { return answer(q); });
    router_.add("POST", "/crm/v3/objects/{type}/search",
                [this](const http::Request& q) { return answer(q); });
    router_.add("GET", "/crm/v3/owners", [this](const http::Request& q) { return answer(q); });
    server_.start();
  }
  ~HostileHubSpot() { server_.shutdown(2s); }
  std::string url() const { return "http://" + server_.address(); }
  int calls() const { return calls_; }

 private:
  http::Response answer(const http::Request& q) {
    ++calls_;
    return script_(q);
  }
  Script script_;
  std::atomic<int> calls_{0};
  http::Router router_;
  WorkerPool workers_{1, "hostile"};
  metrics::Registry metrics_;
  http::Server server_{{}, router_, workers_, metrics_};
};

struct HostileClient {
  explicit HostileClient(const std::string& url, ClientOptions co = {})
      : transport(make_transport(to(url))),
        budget({190, 10s, 1.0, 5}, clock),
        client(*transport, budget, clock, Secret("t"), metrics, co) {}
  testing::FakeClock clock;
  metrics::Registry metrics;
  std::unique_ptr<Transport> transport;
  LocalRateBudget budget;
  HubSpotClient client;
};

http::Response page_json(const std::string& body, int status = 200) {
  return http::Response::text(status, body, "application/json");
}

TEST(HostileAnswers, ARetryAfterOfYearsIsABoundedWait) {
  HostileHubSpot hs([n = 0](const http::Request&) mutable {
    if (n++ == 0) {
      auto r = page_json(
          R"({"status":"error","message":"You have reached your ten_secondly_rolling limit."})", 429);
      r.headers.emplace_back("Retry-After", "1000000000");
      return r;
    }
    return page_json(R"({"results": []})");
  });
  ClientOptions co;
  co.max_retry_wait = 30s;
  HostileClient c(hs.url(), co);
  EXPECT_TRUE(c.client.list("companies", {}).results.empty());
  EXPECT_EQ(c.clock.slept_ms(), 30'000);  // clamped, not 31 years

  EXPECT_EQ(parse_retry_after("5", 60s), 5s);
  EXPECT_EQ(parse_retry_after(" 5 ", 60s), 5s);
  EXPECT_EQ(parse_retry_after("99999999999999999999999", 60s), 60s);
  EXPECT_EQ(parse_retry_after("-5", 60s), std::nullopt);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", 60s), std::nullopt);
  EXPECT_EQ(parse_retry_after("", 60s), std::nullopt);
}

TEST(HostileAnswers, RateLimitHeadersAreClamped) {
  testing::FakeClock clock;
  LocalRateBudget budget({100, 10s, 1.0, 5}, clock);
  HttpResponse r;
  r.headers = {{"X-HubSpot-RateLimit-Max", "2000000000"}, {"X-HubSpot-RateLimit-Remaining", "0"}};
  budget.observe(r);  // "two billion used": at most our own limit is stood in, not two billion slots
  budget.acquire(Budget::kBurst);
  EXPECT_GE(clock.slept_ms(), 10'000);  // this window is spent, the next one is not
  EXPECT_LT(clock.slept_ms(), 20'000);
  for (const auto& [max, rem] : std::vector<std::pair<std::string, std::string>>{
           {"-1", "5"}, {"100", "-7"}, {"x", "1"}, {"1e9", "0"}, {"100", "99999999999999999999"}}) {
    LocalRateBudget b({100, 10s, 1.0, 5}, clock);
    HttpResponse h;
    h.headers = {{"X-HubSpot-RateLimit-Max", max}, {"X-HubSpot-RateLimit-Remaining", rem}};
    b.observe(h);
    const auto before = clock.slept_ms();
    b.acquire(Budget::kBurst);
    EXPECT_EQ(clock.slept_ms(), before) << max << " / " << rem;  // ignored: nothing was used
  }
}

TEST(HostileAnswers, APagingWithoutNextIsATypedErrorNamingTheCall) {
  HostileHubSpot hs([](const http::Request& q) {
    if (q.path == "/crm/v3/owners") return page_json(R"({"results": [{"id": "1"}], "paging": {}})");
    return page_json(R"({"results": [{"id": "1"}], "paging": {"next": {"link": "?after=2"}}})");
  });
  HostileClient c(hs.url());
  try {
    (void)c.client.list("companies", {});
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kRejected);
    EXPECT_THAT(e.what(), HasSubstr("objects.list"));
    EXPECT_THAT(e.what(), HasSubstr("paging.next has no after cursor"));
  }
  try {
    (void)c.client.owners();
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_THAT(e.what(), HasSubstr("owners.list"));
  }
  EXPECT_EQ(hs.calls(), 2);  // not retried: the same answer would come again
}

TEST(HostileAnswers, ARepeatedCursorEndsTheWalk) {
  HostileHubSpot hs([](const http::Request&) {
    return page_json(R"({"results": [{"id": "1"}], "paging": {"next": {"after": "same"}}})");
  });
  HostileClient c(hs.url());
  EXPECT_THROW((void)c.client.owners(), ApiError);
  EXPECT_EQ(hs.calls(), 2);
  CursorGuard g("objects.list companies");
  g.next("a");
  g.next("b");
  g.next("");  // the end is no cursor
  try {
    g.next("a");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_THAT(e.what(), HasSubstr("objects.list companies"));
  }
}

}  // namespace
}  // namespace cshealthd::hubspot
