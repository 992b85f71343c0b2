// The Segment-compatible source's pure half: Segment's HTTP Tracking API bodies read event by event (each
// wrong event on its own, with its index), the instant of each as Segment corrects it, and the events
// folded into user days, logins, features and memberships.
#include "cshealthd/core/segment.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace cshealthd::core {
namespace {

const EpochMs kNow = *parse_iso8601("2026-12-07T12:00:00Z");
const std::int32_t kToday = day_of(kNow);

SegmentParsed batch(const std::string& events, const std::string& extra = "") {
  return parse_segment("{\"batch\": [" + events + "]" + extra + "}", true, kNow);
}

std::string error_of(const std::string& event) {
  const auto p = batch(event);
  EXPECT_EQ(p.errors.size(), 1u) << event;
  return p.errors.empty() ? "" : p.errors[0].second;
}

TEST(SegmentParse, EachTypeKeepsWhatTheFiguresNeed) {
  const auto p = batch(
      R"({"type":"track","event":"Signed In","userId":"u1","messageId":"m1","context":{"groupId":"5001"}},)"
      R"({"type":"group","groupId":5002,"userId":"u1","messageId":"m2","traits":{"name":"Acme"}},)"
      R"({"type":"page","anonymousId":"anon-9","messageId":"m3","name":"Home"},)"
      R"({"type":"identify","userId":42,"messageId":"m4","traits":{"email":"a@b.example"}},)"
      R"({"type":"screen","userId":"u2"},)"
      R"({"type":"alias","userId":"u3","previousId":"anon-9","messageId":"m6"})");
  ASSERT_EQ(p.total, 6u);
  ASSERT_TRUE(p.errors.empty());
  ASSERT_EQ(p.events.size(), 6u);
  EXPECT_EQ(p.events[0].type, SegmentType::kTrack);
  EXPECT_EQ(p.events[0].event, "Signed In");
  EXPECT_EQ(p.events[0].user, "u:u1");
  EXPECT_EQ(p.events[0].group_id, "5001");
  EXPECT_EQ(p.events[0].message_id, "m1");
  EXPECT_EQ(p.events[1].type, SegmentType::kGroup);
  EXPECT_EQ(p.events[1].group_id, "5002");  // a number is its digits
  EXPECT_EQ(p.events[2].user, "a:anon-9");  // no userId: the anonymousId, told apart
  EXPECT_EQ(p.events[3].user, "u:42");
  EXPECT_EQ(p.events[4].message_id, "");  // none given: not de-duplicated
  EXPECT_EQ(p.events[5].type, SegmentType::kAlias);
  for (std::size_t i = 0; i < p.events.size(); ++i) EXPECT_EQ(p.events[i].index, i);
}

TEST(SegmentParse, AWrongEventIsAnsweredByItsIndexAndTheOthersKept) {
  const auto p = batch(R"({"type":"track","userId":"u1"},)"
                       R"({"type":"track","event":"Signed In","userId":"u1"},)"
                       R"(7)");
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].index, 1u);
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_EQ(p.errors[0].first, 0u);
  EXPECT_EQ(p.errors[1].first, 2u);
  EXPECT_EQ(p.errors[1].second, "expected an object");
}

TEST(SegmentParse, EveryRuleOfAnEventRowByRow) {
  EXPECT_EQ(error_of(R"({"event":"x","userId":"u"})"), "type: required, a string");
  EXPECT_EQ(error_of(R"({"type":"Track","event":"x","userId":"u"})"),
            "type: expected identify, group, track, page, screen or alias");
  EXPECT_EQ(error_of(R"({"type":"track","event":"x"})"), "userId or anonymousId: one is required");
  EXPECT_EQ(error_of(R"({"type":"track","event":"x","userId":"","anonymousId":null})"),
            "userId or anonymousId: one is required");
  EXPECT_EQ(error_of(R"({"type":"track","event":"x","userId":true})"),
            "userId: expected a string or a number");
  EXPECT_EQ(error_of(R"({"type":"track","event":"x","userId":1.5})"),
            "userId: expected a string or a number");
  EXPECT_EQ(error_of(R"({"type":"track","event":"x","userId":")" + std::string(256, 'u') + R"("})"),
            "userId: longer than 255 characters");
  EXPECT_TRUE(
      batch(R"({"type":"track","event":"x","userId":")" + std::string(255, 'u') + R"("})").errors.empty());
  EXPECT_EQ(error_of(R"({"type":"track","event":"x","userId":"u","messageId":{}})"),
            "messageId: expected a string or a number");
  EXPECT_EQ(error_of(R"({"type":"track","event":"","userId":"u"})"),
            "event: required for a track call, a string");
  EXPECT_EQ(error_of(R"({"type":"track","event":5,"userId":"u"})"),
            "event: required for a track call, a string");
  EXPECT_EQ(error_of(R"({"type":"group","userId":"u"})"), "groupId: required for a group call");
  EXPECT_EQ(error_of(R"({"type":"page","userId":"u","context":[]})"), "context: expected an object");
  EXPECT_EQ(error_of(R"({"type":"page","userId":"u","timestamp":"yesterday"})"),
            "timestamp: expected an ISO 8601 timestamp");
  EXPECT_EQ(error_of(R"({"type":"page","userId":"u","timestamp":1700000000})"),
            "timestamp: expected an ISO 8601 timestamp");
}

TEST(SegmentParse, ABodyThatIsNotABatchIsRefusedWhole) {
  EXPECT_THROW(parse_segment("not json", true, kNow), std::invalid_argument);
  EXPECT_THROW(parse_segment("[1]", true, kNow), std::invalid_argument);
  EXPECT_THROW(parse_segment(R"({"batch": {}})", true, kNow), std::invalid_argument);
  EXPECT_THROW(parse_segment(R"({"type":"track"})", true, kNow), std::invalid_argument);
  EXPECT_THROW(parse_segment("\"track\"", false, kNow), std::invalid_argument);
  // One event: its error is the body's only one.
  const auto one = parse_segment(R"({"type":"track","userId":"u"})", false, kNow);
  EXPECT_EQ(one.total, 1u);
  EXPECT_EQ(one.errors.size(), 1u);
  EXPECT_EQ(batch("").total, 0u);
}

TEST(SegmentParse, TheBatchContextGivesTheGroupToEventsWithoutTheirOwn) {
  const auto p =
      batch(R"({"type":"page","userId":"u"},{"type":"page","userId":"u","context":{"groupId":"7"}})",
            R"(, "context": {"groupId": "6"})");
  ASSERT_EQ(p.events.size(), 2u);
  EXPECT_EQ(p.events[0].group_id, "6");
  EXPECT_EQ(p.events[1].group_id, "7");
}

TEST(SegmentParse, TheInstantIsCorrectedAsSegmentDoes) {
  const auto at = [](const std::string& fields) {
    const auto p = batch(R"({"type":"page","userId":"u")" + fields + "}");
    EXPECT_EQ(p.events.size(), 1u) << fields;
    return p.events.empty() ? 0 : p.events[0].at;
  };
  // Relayed by Segment (receivedAt present): its timestamp is already corrected.
  EXPECT_EQ(
      at(R"(,"timestamp":"2026-12-06T08:00:00Z","sentAt":"2026-12-07T11:00:00Z","receivedAt":"2026-12-07T11:00:01Z")"),
      *parse_iso8601("2026-12-06T08:00:00Z"));
  // From a library whose clock is 2 h ahead: sent 10 s after the event, by its clock.
  EXPECT_EQ(at(R"(,"timestamp":"2026-12-07T14:00:00Z","sentAt":"2026-12-07T14:00:10Z")"), kNow - 10'000);
  EXPECT_EQ(at(R"(,"timestamp":"2026-12-05T10:00:00+09:00")"), *parse_iso8601("2026-12-05T01:00:00Z"));
  EXPECT_EQ(at(R"(,"originalTimestamp":"2026-12-04T00:00:00Z")"), *parse_iso8601("2026-12-04T00:00:00Z"));
  EXPECT_EQ(at(""), kNow);
}

TEST(SegmentUserKey, IsFnv1a64OfTheUser) {
  EXPECT_EQ(segment_user_key(""), static_cast<std::int64_t>(14695981039346656037ULL));
  EXPECT_EQ(segment_user_key("a"), static_cast<std::int64_t>(0xaf63dc4c8601ec8cULL));
  EXPECT_NE(segment_user_key("u:1"), segment_user_key("a:1"));
}

SegmentSettings settings() {
  SegmentSettings s;
  s.group_key = UsageKeyKind::kDomain;
  s.login_events = {"Signed In"};
  s.feature_events = {"Report Exported", "Dashboard Shared"};
  s.max_age_days = 60;
  return s;
}

TEST(SegmentAggregate, UserDaysLoginsFeaturesAndMembers) {
  const auto p =
      batch(R"({"type":"group","userId":"u1","groupId":"https://WWW.Acme.example/"},)"
            R"({"type":"track","event":"Signed In","userId":"u1"},)"
            R"({"type":"track","event":"Signed In","userId":"u1"},)"
            R"({"type":"track","event":"Report Exported","userId":"u1"},)"
            R"({"type":"track","event":"Report Exported","userId":"u1","timestamp":"2026-12-06T12:00:00Z"},)"
            R"({"type":"track","event":"Dashboard Shared","userId":"u1"},)"
            R"({"type":"track","event":"Something Else","userId":"u2","context":{"groupId":"beta.example"}},)"
            R"({"type":"identify","userId":"u3"},)"
            R"({"type":"alias","userId":"u3"})");
  ASSERT_TRUE(p.errors.empty());
  const auto a = aggregate_segment(p.events, {}, settings(), TimeZone::utc(), kToday);
  EXPECT_TRUE(a.errors.empty());
  EXPECT_EQ(a.counted, 7u);  // identify and alias add nothing
  const auto u1 = segment_user_key("u:u1"), u2 = segment_user_key("u:u2");
  EXPECT_EQ(a.members,
            (std::set<std::pair<std::int64_t, std::string>>{{u1, "acme.example"}, {u2, "beta.example"}}));
  ASSERT_EQ(a.days.size(), 3u);
  const auto& today = a.days.at({u1, kToday});
  EXPECT_EQ(today.logins, 2);
  EXPECT_EQ(today.features, (std::set<std::string>{"Dashboard Shared", "Report Exported"}));
  const auto& yesterday = a.days.at({u1, kToday - 1});
  EXPECT_EQ(yesterday.logins, 0);
  EXPECT_EQ(yesterday.features, (std::set<std::string>{"Report Exported"}));
  EXPECT_EQ(a.days.at({u2, kToday}).logins, 0);  // active, no login, no key feature
  EXPECT_TRUE(a.days.at({u2, kToday}).features.empty());
}

TEST(SegmentAggregate, OnlyTheEventsInUseCount) {
  const auto p = batch(R"({"type":"track","event":"Signed In","userId":"u1"},)"
                       R"({"type":"track","event":"Signed In","userId":"u1"})");
  const auto a = aggregate_segment(p.events, {true, false}, settings(), TimeZone::utc(), kToday);
  EXPECT_EQ(a.counted, 1u);
  EXPECT_EQ(a.days.at({segment_user_key("u:u1"), kToday}).logins, 1);
}

TEST(SegmentAggregate, DaysAreTheServiceZonesAndTheirEdgesAreChecked) {
  auto s = settings();
  s.max_age_days = 2;
  const auto a = aggregate_segment(
      batch(R"({"type":"page","userId":"u","timestamp":"2026-12-07T23:59:59Z"},)"  // today
            R"({"type":"page","userId":"u","timestamp":"2026-12-08T00:00:00Z"},)"  // tomorrow
            R"({"type":"page","userId":"u","timestamp":"2026-12-05T00:00:00Z"},)"  // 2 days old: kept
            R"({"type":"page","userId":"u","timestamp":"2026-12-04T23:59:59Z"},)"  // 3 days old
            R"({"type":"page","userId":"u","context":{"groupId":"   "}})")         // no domain
          .events,
      {}, s, TimeZone::utc(), kToday);
  EXPECT_EQ(a.counted, 2u);
  ASSERT_EQ(a.errors.size(), 3u);
  EXPECT_EQ(a.errors[0],
            (std::pair<std::size_t, std::string>{1, "timestamp 2026-12-08T00:00:00.000Z is in the future"}));
  EXPECT_EQ(a.errors[1].first, 3u);
  EXPECT_EQ(a.errors[1].second, "timestamp 2026-12-04T23:59:59.000Z is more than 2 days old");
  EXPECT_EQ(a.errors[2].first, 4u);
  EXPECT_EQ(a.errors[2].second, "groupId: domain: expected 1 to 255 characters");
  EXPECT_TRUE(a.days.count({segment_user_key("u:u"), kToday - 2}));
}

}  // namespace
}  // namespace cshealthd::core
