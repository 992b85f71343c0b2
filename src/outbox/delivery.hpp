#pragma once
// The deliverer's parts, one sender per kind of item, sharing one Delivery (what a run sends with and
// what it reports). Internal to the outbox.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/outbox/deliverer.hpp"
#include "cshealthd/outbox/slack_client.hpp"

namespace cshealthd::outbox::detail {

constexpr std::size_t kBatch = 100;

struct Delivery {
  OutboxStore& store;
  store::Database& db;
  const Settings& settings;
  metrics::Registry& metrics;
  hubspot::HubSpotClient& client;
  DeliveryReport& report;
  PortalSetup setup;

  void count(const char* kind, const char* outcome, std::uint64_t n);
  void dead(const std::vector<std::int64_t>& ids, const std::string& error, Kind kind);
};

// HubSpot's words for the log and the dead letter: short, and never the token (HubSpot never echoes it).
std::string words(const std::exception& e);
// Ids a 207 answer names as failed ({"errors":[{"context":{"ids":[...]}}]}); empty when it names none.
std::set<std::string> failed_ids(const nlohmann::json& answer);
// A 207: some inputs failed.
bool partial(const nlohmann::json& answer);
std::vector<std::int64_t> ids_of(const std::vector<Pending>& items);

// Company property updates, merged per company, 100 companies per call.
class PropertySender {
 public:
  explicit PropertySender(Delivery& d) : d_(d) {}
  bool send_next();

 private:
  struct Update {
    std::int64_t company = 0;
    std::map<std::string, std::string> properties;
    std::vector<std::int64_t> items;
  };
  void send(const std::vector<Update>& updates);
  void split(const std::vector<Update>& updates, const std::string& why);
  // The last company sent: the next page starts after it (one pass over the companies, then from the
  // start again for what was enqueued meanwhile). Starting each page from the lowest company would walk
  // the index entries of every update already done, a cost that grows with the pass.
  std::int64_t after_ = 0;
  Delivery& d_;
};

// HubSpot objects made exactly once per key: tasks, Services records, deals. What differs between them
// is names: the kind, the object, the key property, the association to the company and the properties.
class ObjectSender {
 public:
  ObjectSender(Delivery& d, Kind kind);
  bool send_next();
  // Creates in doubt longer than the search lag, looked for by key.
  bool reconcile();
  bool searches() const;  // whether its creates are settled by a search (so in doubt may wait)

 private:
  nlohmann::json properties_of(const Pending& item, bool first_send) const;
  std::int64_t deal_of(const Pending& item) const;
  void upsert(const std::vector<Pending>& items);
  void create(const std::vector<Pending>& items);
  void split(const std::vector<Pending>& items, const std::string& why);
  void associate(const std::vector<Pending>& items, const std::map<std::string, std::string>& by_key,
                 bool companies);
  void record(const std::vector<Pending>& items, const std::map<std::string, std::string>& by_key);
  std::map<std::string, std::string> ids_by_key(const nlohmann::json& answer, std::uint64_t* created,
                                                std::uint64_t* existing) const;
  bool upserts() const;

  Delivery& d_;
  Kind kind_;
  std::string object_, key_property_;
  int company_association_ = 0;  // HUBSPOT_DEFINED type id, object -> company
};

// Completes the tasks of task closes whose task has settled.
class CloseSender {
 public:
  explicit CloseSender(Delivery& d) : d_(d) {}
  bool send_next();

 private:
  Delivery& d_;
};

// Slack messages, one post each, with backoff.
class SlackSender {
 public:
  explicit SlackSender(Delivery& d) : d_(d), client_(d.settings.slack_webhook_url) {}
  bool send_next();

 private:
  Delivery& d_;
  SlackClient client_;
};

}  // namespace cshealthd::outbox::detail
