// A usage CSV as core reads it: the header mapped by configuration, RFC 4180 quoting with the line each
// record starts on, every bad row with its line and reason, and what makes the whole file unreadable.
#include "cshealthd/core/usage_csv.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

using ::testing::HasSubstr;

constexpr std::int32_t kToday = 20'619;  // 2026-06-15

struct Read {
  UsageCsvResult result;
  std::vector<std::pair<std::size_t, UsageRow>> rows;
};

Read read(std::string_view text, std::map<std::string, std::string> columns = {}) {
  Read r;
  r.result = read_usage_csv(text, columns, kToday, [&](UsageRow&& row, std::size_t line) {
    r.rows.emplace_back(line, std::move(row));
  });
  return r;
}

TEST(UsageCsvTest, RowsWithTheirFiguresKeysAndLines) {
  const auto r = read(
      "company_id,domain,date,active_users_30d,logins_30d,licensed_seats\n"
      "101,,2026-06-14,40,300,50\n"
      ",WWW.Acme.example,2026/06/13,,12,\n"  // a spreadsheet's date; empty cells are not given
      "\n"                                   // a blank line is skipped
      "102,ignored.example,2026-06-15,0,0,0\n");
  EXPECT_EQ(r.result.error_count, 0u);
  EXPECT_EQ(r.result.records, 3u);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].first, 2u);
  EXPECT_EQ(r.rows[0].second.key.kind, UsageKeyKind::kId);
  EXPECT_EQ(r.rows[0].second.key.value, "101");
  EXPECT_EQ(r.rows[0].second.figures.size(), 3u);
  EXPECT_EQ(r.rows[1].first, 3u);
  EXPECT_EQ(r.rows[1].second.key.kind, UsageKeyKind::kDomain);
  EXPECT_EQ(r.rows[1].second.key.value, "acme.example");
  EXPECT_EQ(format_day(r.rows[1].second.day), "2026-06-13");
  ASSERT_EQ(r.rows[1].second.figures.size(), 1u);
  EXPECT_EQ(r.rows[1].second.figures[0], std::pair(Metric::kLogins30d, 12.0));
  EXPECT_EQ(r.rows[2].first, 5u);
  EXPECT_EQ(r.rows[2].second.key.kind, UsageKeyKind::kId);  // the id wins over the domain
}

TEST(UsageCsvTest, ARowWithoutAFigureIsSkippedNotRefused) {
  const auto r = read("company_id,date,logins_30d,features_used\n101,2026-06-14,,\n102,2026-06-14,,2\n");
  EXPECT_EQ(r.result.error_count, 0u);
  EXPECT_EQ(r.result.records, 2u);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].second.key.value, "102");
}

TEST(UsageCsvTest, AByteOrderMarkCrlfAndQuotedFieldsAreRead) {
  const auto r = read(
      "\xEF\xBB\xBF"
      "external_id,date,features_used\r\n"
      "\"ACC, \"\"1\"\"\",2026-06-14,3\r\n"
      "\"multi\nline\",2026-06-14,4\r\n"
      "plain,2026-06-14,5\r\n");
  EXPECT_EQ(r.result.error_count, 0u);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].second.key.value, "ACC, \"1\"");
  EXPECT_EQ(r.rows[1].second.key.value, "multi\nline");
  EXPECT_EQ(r.rows[2].first, 5u);  // the quoted line break counted: the record starts on line 5
}

TEST(UsageCsvTest, EachBadRowIsReportedWithItsLineAndTheGoodOnesKept) {
  const auto r = read(
      "company_id,date,active_users_30d,licensed_seats\n"
      "101,2026-06-14,40,50\n"
      "102,2026-06-16,1,2\n"       // 3: the future
      "103,14.06.2026,1,2\n"       // 4: a date format not read
      "104,2026-06-14,many,2\n"    // 5: not a number
      "105,2026-06-14,1\n"         // 6: a field short
      ",2026-06-14,1,2\n"          // 7: no company
      "1x6,2026-06-14,1,2\n"       // 8: not an id
      "107,2026-06-14,9,8\n"       // 9: users above seats
      "108,2026-06-14,\"1\"2,3\n"  // 10: text after a closing quote
      "109,2026-06-14,1\"2,3\n"    // 11: a stray quote
      "110,2026-06-14,-1,3\n"      // 12: negative
      "111,2026-06-14,1,2\n");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].first, 2u);
  EXPECT_EQ(r.rows[1].first, 13u);
  ASSERT_EQ(r.result.errors.size(), 10u);
  const std::vector<std::pair<std::size_t, std::string>> want = {{3, "in the future"},
                                                                 {4, "date: expected YYYY-MM-DD"},
                                                                 {5, "active_users_30d: expected a number"},
                                                                 {6, "3 fields where the header has 4"},
                                                                 {7, "no company"},
                                                                 {8, "company_id: expected"},
                                                                 {9, "above licensed_seats"},
                                                                 {10, "after a closing quote"},
                                                                 {11, "a quote inside an unquoted field"},
                                                                 {12, "negative"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.result.errors[i].line, want[i].first) << i;
    EXPECT_THAT(r.result.errors[i].reason, HasSubstr(want[i].second)) << i;
  }
  EXPECT_FALSE(r.result.fatal);
}

TEST(UsageCsvTest, AnUnterminatedQuoteEndsTheFileAtTheLineItOpened) {
  const auto r = read("company_id,date,logins_30d\n101,2026-06-14,1\n102,\"2026-06-14,2\n103,2026-06-14,3\n");
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_EQ(r.result.errors.size(), 1u);
  EXPECT_EQ(r.result.errors[0].line, 3u);
  EXPECT_THAT(r.result.errors[0].reason, HasSubstr("never closed"));
  EXPECT_TRUE(r.result.fatal);
}

TEST(UsageCsvTest, AHeaderWithoutADateACompanyOrAMetricIsFatalAndNamesTheColumns) {
  for (const char* text : {"", "\n", "company_id,logins_30d\n1,2\n", "date,logins_30d\n2026-06-14,2\n",
                           "company_id,date,name\n1,2026-06-14,x\n"}) {
    const auto r = read(text);
    EXPECT_TRUE(r.result.fatal) << text;
    EXPECT_TRUE(r.rows.empty()) << text;
    ASSERT_EQ(r.result.errors.size(), 1u) << text;
    EXPECT_EQ(r.result.errors[0].line, 1u);
  }
  EXPECT_THAT(read("company_id,logins_30d\n").result.errors[0].reason, HasSubstr("needs a date column"));
}

TEST(UsageCsvTest, TheSeedsJapaneseHeadersReadOnceMapped) {
  const std::map<std::string, std::string> ja = {{"company_id", "会社ID"},
                                                 {"domain", "ドメイン"},
                                                 {"date", "日付"},
                                                 {"active_users_30d", "アクティブユーザー数"},
                                                 {"logins_30d", "ログイン回数"},
                                                 {"licensed_seats", "契約ユーザー数"},
                                                 {"features_used", "利用機能数"}};
  const auto r = read(
      "会社ID,会社名,日付,アクティブユーザー数,契約ユーザー数,ログイン回数,利用機能数\n"
      "101,株式会社サンプル,2026/06/01,45,50,320,6\n",
      ja);
  EXPECT_EQ(r.result.error_count, 0u);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].second.figures.size(), 4u);
  // Unmapped, the same file has no date column.
  EXPECT_TRUE(read("会社ID,日付,ログイン回数\n101,2026/06/01,3\n").result.fatal);
}

TEST(UsageCsvTest, OnlyTheFirstErrorsAreKeptButAllAreCounted) {
  std::string text = "company_id,date,logins_30d\n";
  for (int i = 0; i < 50; ++i) text += "x,2026-06-14,1\n";
  UsageCsvResult r = read_usage_csv(
      text, {}, kToday, [](UsageRow&&, std::size_t) {}, 10);
  EXPECT_EQ(r.errors.size(), 10u);
  EXPECT_EQ(r.error_count, 50u);
}

TEST(UsageCsvTest, AFieldIsQuotedOnlyWhenItMustBe) {
  EXPECT_EQ(csv_field("acme.example"), "acme.example");
  EXPECT_EQ(csv_field("Acme, Inc."), "\"Acme, Inc.\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field(" padded"), "\" padded\"");
  // What it writes reads back.
  const auto r = read("external_id,date,logins_30d\n" + csv_field("a,\"b\"\nc") + ",2026-06-14,1\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].second.key.value, "a,\"b\"\nc");
}

}  // namespace
}  // namespace cshealthd::core
