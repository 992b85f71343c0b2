// The pure parts of Closed Won → onboarding: webhook signatures as HubSpot computes them (vectors computed
// independently, with Python's hmac), webhook bodies read into events, assignment by remaining capacity,
// overdue steps; the checklist file and the config keys; the API paths by version.
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/api/webhooks.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/onboarding.hpp"
#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "cshealthd/onboarding/onboarding.hpp"

namespace cshealthd {
namespace {

using core::parse_webhook_events;
using core::WebhookParseError;
using ::testing::HasSubstr;

constexpr const char* kSecret = "app-client-secret";
constexpr const char* kBody =
    R"([{"eventId":1,"objectId":512,"occurredAt":1790000000000,"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":"closedwon"}])";
constexpr std::int64_t kTs = 1'790'000'000'000;

// ---- signatures --------------------------------------------------------------------------------------

TEST(WebhookSignatureTest, BehindAProxyTheSignedUriIsThePublicUrlWithTheQueryString) {
  // HubSpot calls https://cs.example.com/hooks/...; the proxy strips /hooks and forwards to the socket.
  const std::string uri =
      api::signed_uri("https://cs.example.com/hooks/", nullptr, "/webhooks/hubspot?portal=62515&x=a%2Fb");
  EXPECT_EQ(uri, "https://cs.example.com/hooks/webhooks/hubspot?portal=62515&x=a%2Fb");
  // Python: base64(hmac(secret, "POST" + uri with %2F decoded + body + ts, sha256))
  EXPECT_EQ(hubspot::signature_v3(kSecret, "POST", uri, kBody, std::to_string(kTs)),
            "TJry5HIvfLwwkX6JCOVU1Q0AE8s8/fjrk3HDIT+k7Fo=");
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, kBody, "TJry5HIvfLwwkX6JCOVU1Q0AE8s8/fjrk3HDIT+k7Fo=",
                               std::to_string(kTs), kTs + 299'999),
            hubspot::Verdict::kValid);
  // The socket's URI is not what HubSpot signed.
  EXPECT_EQ(
      hubspot::verify_v3(kSecret, "POST", "http://127.0.0.1:8080/webhooks/hubspot?portal=62515&x=a%2Fb",
                         kBody, "TJry5HIvfLwwkX6JCOVU1Q0AE8s8/fjrk3HDIT+k7Fo=", std::to_string(kTs), kTs),
      hubspot::Verdict::kMismatch);
}

TEST(WebhookSignatureTest, WithoutAPublicUrlTheUriIsRebuiltFromTheHostHeader) {
  const std::string host = "127.0.0.1:8080";
  const std::string uri = api::signed_uri("", &host, "/webhooks/hubspot");
  EXPECT_EQ(uri, "http://127.0.0.1:8080/webhooks/hubspot");
  EXPECT_EQ(hubspot::signature_v3(kSecret, "POST", uri, kBody, std::to_string(kTs)),
            "Tvpc01+Qm9EJpR2O7MEOJ31N03DhAvL6aHFmOK0NIuc=");
}

TEST(WebhookSignatureTest, StaleFutureTamperedAndWrongSecretAreRefused) {
  const std::string uri = "https://cs.example.com/webhooks/hubspot";
  const std::string ts = std::to_string(kTs);
  const auto sig = hubspot::signature_v3(kSecret, "POST", uri, kBody, ts);
  using V = hubspot::Verdict;
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, kBody, sig, ts, kTs + 300'000), V::kValid);
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, kBody, sig, ts, kTs + 300'001), V::kStale);
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, kBody, sig, ts, kTs - 300'001), V::kStale);  // ahead
  std::string tampered = kBody;
  tampered[tampered.find("512")] = '6';
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, tampered, sig, ts, kTs), V::kMismatch);
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri + "?x=1", kBody, sig, ts, kTs), V::kMismatch);
  EXPECT_EQ(hubspot::verify_v3("other", "POST", uri, kBody, sig, ts, kTs), V::kMismatch);
  EXPECT_EQ(hubspot::verify_v3(kSecret, "PUT", uri, kBody, sig, ts, kTs), V::kMismatch);
  // A timestamp claimed other than the one signed.
  EXPECT_EQ(hubspot::verify_v3(kSecret, "POST", uri, kBody, sig, std::to_string(kTs + 1), kTs), V::kMismatch);
}

// ---- events ------------------------------------------------------------------------------------------

TEST(WebhookEventsTest, ReadsHubSpotsFieldsAndTheObjectType) {
  const auto events = parse_webhook_events(
      R"([{"eventId":1,"objectId":512,"occurredAt":1790000000000,"subscriptionType":"deal.propertyChange",
           "propertyName":"dealstage","propertyValue":"closedwon","attemptNumber":0,"portalId":62515},
          {"eventId":"2","objectId":"77","occurredAt":1790000000001,"subscriptionType":"object.propertyChange",
           "objectTypeId":"0-2","propertyName":"cs_mrr","propertyValue":"1200"},
          {"eventId":3,"objectId":9,"occurredAt":1790000000002,"subscriptionType":"object.creation","objectTypeId":"2-999"}])",
      100);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].object_type, "deals");
  EXPECT_EQ(events[0].object_id, 512);
  EXPECT_EQ(events[0].property_value, "closedwon");
  EXPECT_TRUE(events[0].is_property_change());
  EXPECT_EQ(events[1].object_type, "companies");
  EXPECT_EQ(events[1].object_id, 77);
  EXPECT_EQ(events[1].event_id, "2");
  EXPECT_EQ(events[2].object_type, "");  // a custom object the service does not read
  EXPECT_FALSE(events[2].property_name);
  EXPECT_FALSE(events[2].is_property_change());
  EXPECT_THAT(events[0].raw, HasSubstr("\"portalId\":62515"));
}

TEST(WebhookEventsTest, EachMissingOrWrongFieldIsRefusedNamingTheEvent) {
  const std::string ok = R"("eventId":1,"subscriptionType":"deal.propertyChange")";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{}", "array"},
      {"[1]", "event 0: expected an object"},
      {"[{" + ok + R"(,"occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":0,"occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":-5,"occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":"5x","occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":1.5,"occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":18446744073709551615,"occurredAt":1}])", "objectId"},
      {"[{" + ok + R"(,"objectId":5}])", "occurredAt"},
      {"[{" + ok + R"(,"objectId":5,"occurredAt":"soon"}])", "occurredAt"},
      {R"([{"eventId":1,"objectId":5,"occurredAt":1}])", "subscriptionType"},
      {R"([{"subscriptionType":"x.y","objectId":5,"occurredAt":1}])", "eventId"},
      {"not json", "not JSON"},
      {"[{" + ok + R"(,"objectId":5,"occurredAt":1,"propertyValue":"a\u0000b"}])", "U+0000"},
      {"[{" + ok + R"(,"objectId":5,"occurredAt":1,"x":[[[[[[[[[[1]]]]]]]]]]}])", "nested"},
  };
  for (const auto& [body, why] : bad) {
    try {
      parse_webhook_events(body, 100);
      ADD_FAILURE() << "accepted " << body;
    } catch (const WebhookParseError& e) {
      EXPECT_THAT(e.what(), HasSubstr(why)) << body;
    }
  }
  EXPECT_EQ(parse_webhook_events("[]", 100).size(), 0u);
}

TEST(WebhookEventsTest, AtMostTheBatchLimit) {
  std::string body = "[";
  for (int i = 0; i < 101; ++i)
    body += std::string(i ? "," : "") + R"({"eventId":)" + std::to_string(i) +
            R"(,"objectId":1,"occurredAt":1,"subscriptionType":"deal.creation"})";
  EXPECT_THROW(parse_webhook_events(body + "]", 100), WebhookParseError);
  EXPECT_EQ(parse_webhook_events(body + "]", 101).size(), 101u);
}

TEST(WebhookEventsTest, TheDeduplicationKeyIsHubSpotsIdentityAndUnambiguous) {
  const auto one = [](const std::string& fields) {
    return parse_webhook_events(R"([{"subscriptionType":"deal.propertyChange","objectId":5,)" + fields + "}]",
                                1)[0];
  };
  const auto a = one(
      R"("eventId":1,"occurredAt":10,"propertyName":"dealstage","propertyValue":"closedwon","attemptNumber":0)");
  const auto retry = one(
      R"("eventId":1,"occurredAt":10,"propertyName":"dealstage","propertyValue":"closedwon","attemptNumber":3)");
  EXPECT_EQ(a.dedup_key(), retry.dedup_key());  // HubSpot's retry: the same event
  // eventId alone is not unique: another change of the same object under the same id is another event.
  EXPECT_NE(a.dedup_key(),
            one(R"("eventId":1,"occurredAt":11,"propertyName":"dealstage","propertyValue":"closedwon")")
                .dedup_key());
  EXPECT_NE(a.dedup_key(),
            one(R"("eventId":1,"occurredAt":10,"propertyName":"dealstage","propertyValue":"closedlost")")
                .dedup_key());
  // Separators inside values cannot make two events one.
  EXPECT_NE(one(R"("eventId":1,"occurredAt":10,"propertyName":"a|b","propertyValue":"c")").dedup_key(),
            one(R"("eventId":1,"occurredAt":10,"propertyName":"a","propertyValue":"b|c")").dedup_key());
  EXPECT_NE(one(R"("eventId":1,"occurredAt":10,"propertyValue":"")").dedup_key(),
            one(R"("eventId":1,"occurredAt":10)").dedup_key());
}

// ---- assignment --------------------------------------------------------------------------------------

TEST(ChooseOwnerTest, MostRemainingCapacityThenRoundRobinAmongEquals) {
  using core::Candidate;
  using core::choose_owner;
  EXPECT_EQ(choose_owner({}, ""), std::nullopt);
  // Most remaining wins whatever the cursor says.
  EXPECT_EQ(choose_owner({{"a", 5, 20}, {"b", 2, 20}, {"c", 9, 20}}, "a"), "b");
  // Capacity per owner differs by segment caps, not load alone: remaining is what counts.
  EXPECT_EQ(choose_owner({{"a", 1, 3}, {"b", 10, 20}}, ""), "b");
  // Equals: the one after the last assigned, wrapping round.
  const std::vector<Candidate> equal = {{"a", 1, 20}, {"b", 1, 20}, {"c", 1, 20}};
  EXPECT_EQ(choose_owner(equal, ""), "a");
  EXPECT_EQ(choose_owner(equal, "a"), "b");
  EXPECT_EQ(choose_owner(equal, "b"), "c");
  EXPECT_EQ(choose_owner(equal, "c"), "a");
  EXPECT_EQ(choose_owner(equal, "gone"), "a");  // the last one left the pool
  // Among equals only: after "a", "b" is skipped when it has less room.
  EXPECT_EQ(choose_owner({{"a", 1, 20}, {"b", 2, 20}, {"c", 1, 20}}, "a"), "c");
  // A full pool still assigns, to the least over capacity.
  EXPECT_EQ(choose_owner({{"a", 4, 3}, {"b", 3, 3}, {"c", 5, 3}}, "b"), "b");
}

// ---- progress ----------------------------------------------------------------------------------------

TEST(OnboardingActionsTest, AnOpenStepPastItsDueBusinessDayIsOverdueThenEscalatesOnce) {
  core::BusinessCalendar cal = core::BusinessCalendar::parse("2027-01-11 成人の日\n", "test");
  const auto day = [](const char* s) { return *core::parse_day(s); };
  using K = core::StepAction::Kind;
  // Due Friday 2027-01-08: Saturday and Sunday are not late, Monday the 11th is a holiday, Tuesday is.
  core::StepState s{"kickoff", day("2027-01-08"), false, std::nullopt, false};
  for (const char* d : {"2027-01-08", "2027-01-09", "2027-01-10", "2027-01-11"})
    EXPECT_TRUE(core::onboarding_actions({s}, day(d), cal, 3).empty()) << d;
  auto a = core::onboarding_actions({s}, day("2027-01-12"), cal, 3);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, K::kOverdue);
  EXPECT_EQ(a[0].business_days_late, 1);
  // Raised on the 12th: the manager hears 3 business days later (the 15th), once.
  s.overdue_on = day("2027-01-12");
  EXPECT_TRUE(core::onboarding_actions({s}, day("2027-01-14"), cal, 3).empty());
  a = core::onboarding_actions({s}, day("2027-01-15"), cal, 3);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, K::kEscalate);
  EXPECT_EQ(a[0].business_days_late, 4);
  s.escalated = true;
  EXPECT_TRUE(core::onboarding_actions({s}, day("2027-02-15"), cal, 3).empty());
  // Completed steps raise nothing, however late.
  EXPECT_TRUE(core::onboarding_actions({{"goals", day("2026-01-01"), true, std::nullopt, false}},
                                       day("2027-01-12"), cal, 3)
                  .empty());
  EXPECT_FALSE(core::onboarding_complete({}));
  EXPECT_FALSE(core::onboarding_complete({s}));
  EXPECT_TRUE(core::onboarding_complete({{"a", 0, true, {}, false}, {"b", 0, true, {}, false}}));
}

// ---- files and config --------------------------------------------------------------------------------

TEST(ChecklistTest, TheShippedChecklistHasTheEightStepsOfTheDomainInBothLocales) {
  for (const char* locale : {"en", "ja"}) {
    auto c = config::load_text("", "test", {{"CSHEALTHD_WRITEBACK_LOCALE", locale}});
    const auto s = onboarding::load_settings(c);
    std::vector<std::pair<std::string, int>> steps;
    for (const auto& st : s.steps) steps.emplace_back(st.id, st.due_days);
    EXPECT_EQ(steps, (std::vector<std::pair<std::string, int>>{{"kickoff", 3},
                                                               {"goals", 5},
                                                               {"account_setup", 10},
                                                               {"data_import", 10},
                                                               {"admin_training", 15},
                                                               {"user_training", 15},
                                                               {"first_results", 20},
                                                               {"complete", 40}}))
        << locale;
    EXPECT_FALSE(s.handover.body.empty());
    EXPECT_THAT(s.handover.body, HasSubstr("{goals}"));
  }
}

TEST(ChecklistTest, ABadChecklistIsAConfigErrorSayingWhat) {
  const std::string templates =
      "templates:\n  en:\n    a: {subject: s, body: b}\n    overdue: {subject: s, body: b}\n"
      "    escalation: {subject: s, body: b}\n    handover: {subject: s, body: b}\n"
      "    slack_started: x\n    slack_handover: y\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"steps: [{id: a, due_business_days: 3}, {id: a, due_business_days: 4}]\n" + templates,
       "appears twice"},
      {"steps: [{id: A, due_business_days: 3}]\n" + templates, "not an id"},
      {"steps: [{id: b, due_business_days: 3}]\n" + templates, "no subject and body for b"},
      {"steps: [{id: a, due_business_days: 999}]\n" + templates, "0-250"},
      {"steps: []\n" + templates, "at least one"},
      {"steps: [{id: a}]\n" + templates, "due_business_days"},
      {"steps: [{id: a, due_business_days: 3}]\ntemplates: {ja: {}}\n", "no `en` section"},
      {": : :", "checklist"},
  };
  for (const auto& [text, why] : bad) {
    onboarding::Settings s;
    try {
      onboarding::parse_checklist(text, "onboarding.checklist_file: x.yaml", "en", s);
      ADD_FAILURE() << "accepted " << text;
    } catch (const config::ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr(why)) << text;
      EXPECT_THAT(e.what(), HasSubstr("onboarding.checklist_file")) << text;
    }
  }
}

TEST(OnboardingConfigTest, KeysAreCheckedAndNamed) {
  const auto error_of = [](const config::Environment& env) -> std::string {
    try {
      config::load_text("", "test", env);
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error_of({{"CSHEALTHD_HUBSPOT_API_VERSION", "v4"}}), HasSubstr("hubspot.api_version"));
  EXPECT_THAT(error_of({{"CSHEALTHD_HUBSPOT_API_VERSION", "2026-04"}}), HasSubstr("hubspot.api_version"));
  EXPECT_EQ(error_of({{"CSHEALTHD_HUBSPOT_API_VERSION", "2026-09"}}), "");
  EXPECT_THAT(error_of({{"CSHEALTHD_PUBLIC_URL", "cs.example.com"}}), HasSubstr("public_url"));
  EXPECT_THAT(error_of({{"CSHEALTHD_PUBLIC_URL", "https://cs.example.com/x?y"}}), HasSubstr("public_url"));
  EXPECT_EQ(error_of({{"CSHEALTHD_PUBLIC_URL", "https://cs.example.com/hooks"}}), "");
  EXPECT_THAT(error_of({{"CSHEALTHD_ONBOARDING_POOL", "90005,alice"}}), HasSubstr("onboarding.pool"));
  EXPECT_EQ(error_of({{"CSHEALTHD_ONBOARDING_POOL", "90005,team:303"}}), "");
  EXPECT_THAT(error_of({{"CSHEALTHD_WEBHOOK_MAX_EVENTS", "0"}}), HasSubstr("webhook.max_events"));
  EXPECT_THAT(error_of({{"CSHEALTHD_ONBOARDING_DEAL_PROPERTIES_GOALS", "Goals!"}}),
              HasSubstr("onboarding.deal_properties.goals"));
}

TEST(ApiPathsTest, OneSpellingPerVersion) {
  const hubspot::ApiPaths v3("v3"), dated("2026-03");
  EXPECT_EQ(v3.objects("deals"), "/crm/v3/objects/deals");
  EXPECT_EQ(v3.properties("0-162"), "/crm/v3/properties/0-162");
  EXPECT_EQ(v3.associations("tasks", "deals"), "/crm/v4/associations/tasks/deals");
  EXPECT_EQ(v3.owners(), "/crm/v3/owners");
  EXPECT_EQ(v3.pipelines("deals"), "/crm/v3/pipelines/deals");
  EXPECT_EQ(dated.objects("deals"), "/crm/objects/2026-03/deals");
  EXPECT_EQ(dated.properties("companies"), "/crm/properties/2026-03/companies");
  EXPECT_EQ(dated.associations("tasks", "deals"), "/crm/associations/2026-03/tasks/deals");
  EXPECT_EQ(dated.owners(), "/crm/owners/2026-03");
  EXPECT_EQ(dated.pipelines("deals"), "/crm/pipelines/2026-03/deals");
}

TEST(HubSpotAppTest, TheProjectSubscribesToWhatTheServiceReadsAndAsksForItsScopes) {
  const auto read = [](const std::string& path) {
    std::ifstream in(std::string(CSHEALTHD_SOURCE_DIR) + "/hubspot-app/" + path);
    return nlohmann::json::parse(in);
  };
  const auto project = read("hsproject.json");
  EXPECT_EQ(project["platformVersion"], "2025.2");
  const auto app = read("src/app/app-hsmeta.json");
  EXPECT_EQ(app["config"]["auth"]["type"], "static");
  const auto& scopes = app["config"]["auth"]["requiredScopes"];
  for (const char* s :
       {"crm.objects.companies.write", "crm.objects.deals.read", "crm.schemas.companies.write"})
    EXPECT_NE(std::find(scopes.begin(), scopes.end(), s), scopes.end()) << s;
  const auto hooks = read("src/app/webhooks/webhooks-hsmeta.json");
  const std::string target = hooks["config"]["settings"]["targetUrl"];
  EXPECT_TRUE(target.size() > 17 && target.compare(target.size() - 17, 17, "/webhooks/hubspot") == 0)
      << target;
  EXPECT_LE(hooks["config"]["settings"]["maxConcurrentRequests"].get<int>(), 10);
  std::set<std::string> companies;
  bool dealstage = false;
  for (const auto& sub : hooks["config"]["subscriptions"]["crmObjects"]) {
    EXPECT_EQ(sub["subscriptionType"], "object.propertyChange");
    if (sub["objectType"] == "deal") dealstage |= sub["propertyName"] == "dealstage";
    if (sub["objectType"] == "company") companies.insert(sub["propertyName"].get<std::string>());
  }
  EXPECT_TRUE(dealstage);
  // Exactly the company inputs of the shipped mapping: each change rescored, nothing else sent.
  const auto inputs = onboarding::load_settings(config::Config{}).company_inputs;
  EXPECT_EQ(inputs.count("cs_stage"), 0u);  // written by the service: no reason to rescore
  EXPECT_EQ(companies, inputs);
}

}  // namespace
}  // namespace cshealthd
