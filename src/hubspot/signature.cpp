#include "cshealthd/hubspot/signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace cshealthd::hubspot {
namespace {

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xF];
  }
  return out;
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  return hex(digest, len);
}

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace

std::string decode_uri_for_v3(std::string_view uri) {
  static constexpr std::pair<std::string_view, char> kDecoded[] = {
      {"3A", ':'},  {"2F", '/'}, {"3F", '?'}, {"40", '@'}, {"21", '!'}, {"24", '$'},
      {"27", '\''}, {"28", '('}, {"29", ')'}, {"2A", '*'}, {"2C", ','}, {"3B", ';'}};
  std::string out;
  out.reserve(uri.size());
  for (std::size_t i = 0; i < uri.size(); ++i) {
    char decoded = 0;
    if (uri[i] == '%' && i + 2 < uri.size()) {
      const char hi = uri[i + 1];
      const char lo = static_cast<char>(std::toupper(static_cast<unsigned char>(uri[i + 2])));
      for (const auto& [code, c] : kDecoded) {
        if (hi == code[0] && lo == code[1]) decoded = c;
      }
    }
    if (decoded) {
      out += decoded;
      i += 2;
    } else {
      out += uri[i];
    }
  }
  return out;
}

std::string signature_v3(std::string_view secret, std::string_view method, std::string_view uri,
                         std::string_view body, std::string_view timestamp_ms) {
  std::string source;
  source.reserve(method.size() + uri.size() + body.size() + timestamp_ms.size());
  source.append(method).append(decode_uri_for_v3(uri)).append(body).append(timestamp_ms);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(source.data()), source.size(), mac, &len);
  return base64(mac, len);
}

std::string signature_v2(std::string_view secret, std::string_view method, std::string_view uri,
                         std::string_view body) {
  std::string source;
  source.append(secret).append(method).append(uri).append(body);
  return sha256_hex(source);
}

std::string signature_v1(std::string_view secret, std::string_view body) {
  std::string source;
  source.append(secret).append(body);
  return sha256_hex(source);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kMissing:
      return "missing";
    case Verdict::kStale:
      return "stale";
    case Verdict::kMismatch:
      return "mismatch";
  }
  return "unknown";
}

Verdict verify_v3(std::string_view secret, std::string_view method, std::string_view uri,
                  std::string_view body, std::string_view signature, std::string_view timestamp_ms,
                  std::int64_t now_ms, std::int64_t max_age_ms) {
  if (signature.empty() || timestamp_ms.empty()) return Verdict::kMissing;
  std::int64_t ts = 0;
  const auto [ptr, ec] = std::from_chars(timestamp_ms.data(), timestamp_ms.data() + timestamp_ms.size(), ts);
  if (ec != std::errc() || ptr != timestamp_ms.data() + timestamp_ms.size()) return Verdict::kMismatch;
  if (std::llabs(now_ms - ts) > max_age_ms) return Verdict::kStale;
  const auto expected = signature_v3(secret, method, uri, body, timestamp_ms);
  return constant_time_equal(expected, signature) ? Verdict::kValid : Verdict::kMismatch;
}

}  // namespace cshealthd::hubspot
