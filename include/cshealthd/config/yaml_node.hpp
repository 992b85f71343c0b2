#pragma once
// A YAML node with the file it came from, for config files whose errors name file:line and the key path
// (scorecards, plays). Every failure is a config::ConfigError.
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cshealthd/config/config.hpp"

namespace cshealthd::config {

class YamlNode {
 public:
  YamlNode(YAML::Node n, std::string file, std::string path)
      : n_(std::move(n)), file_(std::move(file)), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    const auto line = n_.Mark().line;
    throw ConfigError(path_ + ": " + what + " (" + file_ + (line >= 0 ? ":" + std::to_string(line + 1) : "") +
                      ")");
  }
  bool has(const std::string& key) const { return n_.IsMap() && n_[key]; }
  YamlNode at(const std::string& key) const {
    if (!has(key)) fail("missing key '" + key + "'");
    return child(key);
  }
  YamlNode child(const std::string& key) const {
    return YamlNode(n_[key], file_, path_.empty() ? key : path_ + "." + key);
  }
  // A key that is not text (a list or a mapping used as a key) is an error naming where it is.
  std::string key_of(const YAML::Node& key) const {
    if (!key.IsScalar()) YamlNode(key, file_, path_).fail("a key must be text");
    return key.Scalar();
  }
  void expect_map(const std::set<std::string>& allowed) const {
    if (!n_.IsMap()) fail("expected a mapping");
    for (const auto& kv : n_) {
      const auto key = key_of(kv.first);
      if (!allowed.count(key))
        YamlNode(kv.first, file_, path_.empty() ? key : path_ + "." + key).fail("unknown key");
    }
  }
  std::vector<YamlNode> list() const {
    if (!n_.IsSequence()) fail("expected a list");
    std::vector<YamlNode> out;
    for (std::size_t i = 0; i < n_.size(); ++i)
      out.emplace_back(n_[i], file_, path_ + "[" + std::to_string(i) + "]");
    return out;
  }
  std::vector<std::pair<std::string, YamlNode>> entries() const {
    if (!n_.IsMap()) fail("expected a mapping");
    std::vector<std::pair<std::string, YamlNode>> out;
    for (const auto& kv : n_) {
      const auto key = key_of(kv.first);
      out.emplace_back(key, YamlNode(kv.second, file_, path_ + "." + key));
    }
    return out;
  }
  std::string str() const {
    if (!n_.IsScalar()) fail("expected a single value");
    return n_.as<std::string>();
  }
  double num() const {
    const std::string s = str();
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v))
      fail("expected a number, got '" + s + "'");
    return v;
  }
  int integer(int lo, int hi) const {
    const double v = num();
    if (v != std::floor(v) || v < lo || v > hi)
      fail("expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + str() +
           "'");
    return static_cast<int>(v);
  }
  bool boolean() const {
    const std::string s = str();
    if (s == "true") return true;
    if (s == "false") return false;
    fail("expected true or false, got '" + s + "'");
  }
  // The value as one of `choices`; anything else fails naming them all ("expected a, b or c, got 'x'").
  template <typename T>
  T one_of(std::initializer_list<std::pair<const char*, T>> choices) const {
    const std::string s = str();
    for (const auto& [name, value] : choices) {
      if (s == name) return value;
    }
    std::string names;
    std::size_t i = 0;
    for (const auto& choice : choices) {
      names += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(choice.first);
      ++i;
    }
    fail("expected " + names + ", got '" + s + "'");
  }
  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    for (const auto& n : list()) out.push_back(n.str());
    return out;
  }
  std::string opt_str(const std::string& key, const std::string& fallback) const {
    return has(key) ? child(key).str() : fallback;
  }
  double opt_num(const std::string& key, double fallback) const {
    return has(key) ? child(key).num() : fallback;
  }

  // The underlying node and where it is: the line it starts on (1-based; 0 when unknown).
  const YAML::Node& yaml() const { return n_; }
  int line() const { return n_.Mark().line + 1; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

 private:
  YAML::Node n_;
  std::string file_, path_;
};

}  // namespace cshealthd::config
