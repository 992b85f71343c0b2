#include "cshealthd/base/secret.hpp"

#include <regex>

namespace cshealthd {

std::string redact_passwords(const std::string& text) {
  static const std::regex kUrl(R"(((?:^|[\s"'(])postgres(?:ql)?://[^/@:\s]*:)[^/@\s]*@)", std::regex::icase);
  static const std::regex kQuery(R"(([?&]password=)[^&#\s"']*)", std::regex::icase);
  static const std::regex kKv(R"((^|[\s"'(])(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s"']+))",
                              std::regex::icase);
  std::string out = std::regex_replace(text, kUrl, "$1***@");
  out = std::regex_replace(out, kQuery, "$1***");
  return std::regex_replace(out, kKv, "$1$2***");
}

}  // namespace cshealthd
