#include "cshealthd/hubspot/signature.hpp"

#include <gtest/gtest.h>

namespace cshealthd::hubspot {
namespace {

// Vectors computed independently (Python's hmac/hashlib) from HubSpot's published algorithm.
constexpr const char* kSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
constexpr const char* kBody = R"([{"eventId":1}])";

TEST(SignatureTest, V3MatchesIndependentVectorWithUriDecoding) {
  // %3A in the URI is decoded to ':' before signing, as HubSpot specifies.
  EXPECT_EQ(signature_v3(kSecret, "POST", "https://example.com/webhooks/hubspot?a=1&b=x%3Ay", kBody,
                         "1700000000000"),
            "GzW+J6xAqegQ1ndHiCRqxXlxbZe2g+IzZmsiGKAa0lk=");
  EXPECT_EQ(decode_uri_for_v3("https://h/p?q=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B%20%3a"),
            "https://h/p?q=:/?@!$'()*,;%20:");
}

TEST(SignatureTest, V1AndV2HexDigests) {
  EXPECT_EQ(signature_v2("secret", "POST", "https://x.example/h", "{}"),
            "b38cfcb9fe6664d38c090ae2d54000940c8c1e73a04e127bdf507a1785ba99ba");
  EXPECT_EQ(signature_v1("secret", "{}"), "7bd07c7a3a9cdbfb06eafe8b8767001ec5e044a9009067a7b6918b08eba8498b");
}

TEST(SignatureTest, VerifyV3Verdicts) {
  const std::string uri = "https://svc.example/webhooks/hubspot";
  const std::int64_t ts = 1'700'000'000'000;
  const auto sig = signature_v3(kSecret, "POST", uri, kBody, std::to_string(ts));
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, kBody, sig, std::to_string(ts), ts + 1000), Verdict::kValid);
  // 300,000 ms is the edge: at it still valid, one past it stale.
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, kBody, sig, std::to_string(ts), ts + 300'000), Verdict::kValid);
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, kBody, sig, std::to_string(ts), ts + 300'001), Verdict::kStale);
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, std::string(kBody) + " ", sig, std::to_string(ts), ts),
            Verdict::kMismatch);
  EXPECT_EQ(verify_v3("other-secret", "POST", uri, kBody, sig, std::to_string(ts), ts), Verdict::kMismatch);
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, kBody, "", std::to_string(ts), ts), Verdict::kMissing);
  EXPECT_EQ(verify_v3(kSecret, "POST", uri, kBody, sig, "not-a-number", ts), Verdict::kMismatch);
}

TEST(SignatureTest, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
}

}  // namespace
}  // namespace cshealthd::hubspot
