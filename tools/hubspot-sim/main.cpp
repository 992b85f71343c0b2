// hubspot-sim: a local HubSpot for tests and demos (see tools/hubspot-sim/README.md).
//   hubspot-sim [serve] --listen 127.0.0.1:0 --token T [--portal FILE | --generate N --seed S] …
//   hubspot-sim generate --companies N --seed S --out FILE [--truth FILE]
//   hubspot-sim usage (--portal FILE | --generate N --seed S) --format csv|segment [--out FILE] [--truth
//   FILE] hubspot-sim send-webhook --target URL --secret S --deal ID --stage closedwon [--stale-timestamp]
//                            [--bad-signature] [--repeat N]
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "api.hpp"
#include "cshealthd/base/log.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/http/server.hpp"
#include "generator.hpp"
#include "usage_export.hpp"
#include "webhooks.hpp"

namespace {

using namespace cshealthd;
using json = nlohmann::json;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

void write_json(const std::string& path, const json& j) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << j.dump() << "\n";
}

struct ServeArgs {
  std::string listen = "127.0.0.1:0";
  std::string token = "sim-token";
  std::string portal_file;
  int generate = 0;
  std::uint64_t seed = 1;
  bool revenue_history = false;
  std::string model = "cohorts";
  std::string rate_limit = "190/10s";
  std::string search_rate = "5/s";
  std::int64_t daily_limit = 625'000;
  int retry_after = -1;
  std::string faults;
  std::int64_t search_lag_ms = 0;
  bool no_unique_task_properties = false;
  int slack_fail_first = 0;
  std::string state_out;
  std::string truth_out;
  std::string webhook_target;
  std::string webhook_secret;
  int workers = 4;
};

int serve(const ServeArgs& a) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  sim::SimOptions o;
  o.token = a.token;
  sim::RateLimiter::parse_burst(a.rate_limit, o.limits);
  sim::RateLimiter::parse_search(a.search_rate, o.limits);
  o.limits.daily = a.daily_limit;
  if (a.retry_after >= 0) o.limits.retry_after_s = a.retry_after;
  o.faults = a.faults;
  o.search_lag_ms = a.search_lag_ms;
  o.unique_task_properties = !a.no_unique_task_properties;
  o.slack_fail_first = a.slack_fail_first;

  json truth;
  const std::int64_t today = wall_ms();
  sim::Simulator::PortalFactory factory;
  if (!a.portal_file.empty()) {
    const json state = read_json(a.portal_file);
    factory = [state] { return sim::load_portal(state); };
  } else {
    const sim::GenerateOptions g{a.generate, a.seed, today, a.revenue_history,
                                 a.model == "latent" ? sim::Model::kLatent : sim::Model::kCohorts};
    factory = [g] { return sim::generate(g); };
    if (!a.truth_out.empty()) {
      sim::generate(g, &truth);
      write_json(a.truth_out, truth);
    }
  }
  sim::Simulator simulator(o, factory);
  // Where changes are sent as webhooks: from the command line, or set (and replaced) at run time with
  // POST /__sim/webhooks {"target", "secret"} (a test starts the service after the simulator).
  std::mutex webhooks_mutex;
  std::shared_ptr<sim::WebhookSender> webhooks;
  if (!a.webhook_target.empty())
    webhooks = std::make_shared<sim::WebhookSender>(sim::WebhookOptions{a.webhook_target, a.webhook_secret});
  simulator.on_change([&](json e) {
    std::shared_ptr<sim::WebhookSender> sender;
    {
      std::lock_guard lock(webhooks_mutex);
      sender = webhooks;
    }
    if (sender) sender->enqueue(std::move(e));
  });

  http::Router router;
  simulator.add_routes(router);
  router.add("POST", "/__sim/webhooks", [&](const http::Request& req) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      return http::Response::error(400, "bad_request", e.what());
    }
    if (!body.is_object() || !body.value("target", json()).is_string())
      return http::Response::error(400, "bad_request", "expected {\"target\": URL, \"secret\": S}");
    auto sender = std::make_shared<sim::WebhookSender>(
        sim::WebhookOptions{body["target"].get<std::string>(), body.value("secret", std::string())});
    std::lock_guard lock(webhooks_mutex);
    webhooks = sender;
    return http::Response::json(200, {{"target", body["target"]}});
  });
  router.add("GET", "/__sim/webhooks", [&](const http::Request&) {
    std::lock_guard lock(webhooks_mutex);
    return http::Response::json(200, {{"delivered", webhooks ? webhooks->delivered() : 0}});
  });
  WorkerPool workers(a.workers, "sim-workers");
  metrics::Registry metrics;
  const auto listen = config::parse_listen(a.listen, "--listen");
  http::ServerOptions so;
  so.host = listen.host;
  so.port = listen.port;
  so.max_body_bytes = 32u << 20;
  so.server_name = "hubspot-sim";
  http::Server server(so, router, workers, metrics);
  server.start();
  std::cout << "listening on " << server.address() << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  server.shutdown(std::chrono::seconds(5));
  workers.shutdown(std::chrono::seconds(5));
  {
    std::lock_guard lock(webhooks_mutex);
    webhooks.reset();
  }
  if (!a.state_out.empty()) write_json(a.state_out, simulator.dump_state());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hubspot-sim: a local HubSpot API for tests and demos"};
  ServeArgs s;
  auto add_serve = [&s](CLI::App* c) {
    c->add_option("--listen", s.listen, "HOST:PORT (port 0: any; printed as 'listening on HOST:PORT')");
    c->add_option("--token", s.token, "the private app token clients must send");
    c->add_option("--portal", s.portal_file, "load a portal saved with --state-out");
    c->add_option("--generate", s.generate, "generate a synthetic portal with N companies");
    c->add_option("--seed", s.seed, "seed for --generate");
    c->add_flag("--revenue-history", s.revenue_history,
                "with --generate: MRR changes, churns (cs_stage churned) and returns over the past year");
    c->add_option("--model", s.model,
                  "with --generate: cohorts (the default: churners give themselves away) or latent (a hidden "
                  "risk, noisy signals, contract terms, shocks, and a year of dated churns)")
        ->check(CLI::IsMember({"cohorts", "latent"}));
    c->add_option("--rate-limit", s.rate_limit, "burst limit, e.g. 190/10s, or off");
    c->add_option("--search-rate", s.search_rate, "search limit, e.g. 5/s, or off");
    c->add_option("--daily-limit", s.daily_limit, "requests per day (0 = off)");
    c->add_option("--retry-after", s.retry_after, "send Retry-After (seconds) with 429s");
    c->add_option("--faults", s.faults, "fault spec (see README)");
    c->add_option("--search-lag-ms", s.search_lag_ms, "search index lag");
    c->add_flag("--no-unique-task-properties", s.no_unique_task_properties,
                "refuse task properties with hasUniqueValue (a portal where upsert of tasks is impossible)");
    c->add_option("--slack-fail-first", s.slack_fail_first, "answer 500 to this many Slack posts first");
    c->add_option("--state-out", s.state_out, "write the final state as JSON on exit");
    c->add_option("--truth-out", s.truth_out, "write the generated portal's churn ground truth");
    c->add_option("--webhook-target", s.webhook_target, "POST deal stage changes here");
    c->add_option("--webhook-secret", s.webhook_secret, "client secret for webhook signatures");
    c->add_option("--workers", s.workers, "handler threads");
  };
  add_serve(&app);
  auto* serve_cmd = app.add_subcommand("serve", "serve the API (the default)");
  add_serve(serve_cmd);

  auto* gen = app.add_subcommand("generate", "write a synthetic portal (and its ground truth) to files");
  int companies = 100;
  std::uint64_t seed = 1;
  std::string out, truth_path;
  gen->add_option("--companies", companies, "number of companies")->required();
  gen->add_option("--seed", seed, "seed");
  gen->add_option("--out", out, "portal file")->required();
  gen->add_option("--truth", truth_path, "ground truth file");
  std::string gen_model = "cohorts";
  gen->add_option("--model", gen_model, "cohorts (the default) or latent (see serve --model)")
      ->check(CLI::IsMember({"cohorts", "latent"}));

  auto* usage = app.add_subcommand(
      "usage", "write the portal's product usage as a daily CSV or a Segment event stream (and its truth)");
  sim::UsageExport ux;
  std::string usage_portal, usage_out, usage_truth, usage_model = "cohorts";
  int usage_generate = 0;
  std::uint64_t usage_seed = 1;
  usage->add_option("--portal", usage_portal, "a portal saved with --state-out or generate --out");
  usage->add_option("--generate", usage_generate, "generate the portal as serve --generate N does");
  usage->add_option("--seed", usage_seed, "seed for --generate (and the stream's draws)");
  usage->add_option("--model", usage_model, "with --generate: cohorts or latent")
      ->check(CLI::IsMember({"cohorts", "latent"}));
  usage->add_option("--format", ux.format, "csv (daily figures) or segment (one {\"batch\": [...]} per line)")
      ->check(CLI::IsMember({"csv", "segment"}));
  usage->add_option("--days", ux.days,
                    "csv: days written (default 30); segment: days the events spread over");
  usage->add_option("--key", ux.key, "name companies by domain (default) or id")
      ->check(CLI::IsMember({"domain", "id"}));
  usage->add_option("--batch", ux.batch, "segment: events per batch (default 100)");
  usage->add_option("--out", usage_out, "file (default: standard output)");
  usage->add_option("--truth", usage_truth, "the figures cshealthd should hold for the last day");

  auto* hook = app.add_subcommand("send-webhook", "send one signed deal.propertyChange webhook");
  std::string target, secret, deal, stage = "closedwon";
  bool stale = false, bad = false;
  int repeat = 1;
  hook->add_option("--target", target, "URL")->required();
  hook->add_option("--secret", secret, "client secret")->required();
  hook->add_option("--deal", deal, "deal id")->required();
  hook->add_option("--stage", stage, "new dealstage");
  hook->add_flag("--stale-timestamp", stale, "claim a timestamp 10 minutes old");
  hook->add_flag("--bad-signature", bad, "corrupt the signature");
  hook->add_option("--repeat", repeat, "send the same event N times");

  CLI11_PARSE(app, argc, argv);
  log::init({log::Format::kText, spdlog::level::warn});
  try {
    if (gen->parsed()) {
      json truth;
      auto portal = sim::generate({companies, seed, wall_ms(), false,
                                   gen_model == "latent" ? sim::Model::kLatent : sim::Model::kCohorts},
                                  truth_path.empty() ? nullptr : &truth);
      sim::Simulator dumper({}, [&portal] { return std::move(portal); });
      write_json(out, dumper.dump_state());
      if (!truth_path.empty()) write_json(truth_path, truth);
      return 0;
    }
    if (usage->parsed()) {
      std::unique_ptr<sim::Portal> portal;
      if (!usage_portal.empty()) {
        std::ifstream in(usage_portal);
        if (!in) throw std::runtime_error("cannot read " + usage_portal);
        portal = sim::load_portal(json::parse(in));
      } else if (usage_generate > 0) {
        portal = sim::generate({usage_generate, usage_seed, wall_ms(), false,
                                usage_model == "latent" ? sim::Model::kLatent : sim::Model::kCohorts});
      } else {
        throw std::runtime_error("usage: --portal FILE or --generate N");
      }
      ux.seed = usage_seed;
      ux.now = wall_ms();
      json truth;
      if (usage_out.empty()) {
        truth = sim::export_usage(*portal, ux, std::cout);
      } else {
        std::ofstream file(usage_out);
        truth = sim::export_usage(*portal, ux, file);
        if (!file.flush()) throw std::runtime_error("cannot write " + usage_out);
      }
      if (!usage_truth.empty()) write_json(usage_truth, truth);
      return 0;
    }
    if (hook->parsed()) {
      const std::int64_t now = wall_ms();
      const json body = json::array({{{"eventId", 1'000'000 + (now % 1'000'000)},
                                      {"subscriptionId", 2'195'011},
                                      {"portalId", 62515},
                                      {"appId", 1160452},
                                      {"occurredAt", now},
                                      {"subscriptionType", "deal.propertyChange"},
                                      {"attemptNumber", 0},
                                      {"objectId", std::stoll(deal)},
                                      {"propertyName", "dealstage"},
                                      {"propertyValue", stage},
                                      {"changeSource", "CRM_UI"}}});
      int failures = 0;
      for (int i = 0; i < repeat; ++i) {
        const auto res = sim::post_signed(target, secret, body.dump(), stale ? now - 600'000 : now, bad);
        std::cout << (res.status ? std::to_string(res.status) : "error: " + res.error) << "\n";
        if (res.status < 200 || res.status >= 300) ++failures;
      }
      return failures == 0 ? 0 : 1;
    }
    return serve(s);
  } catch (const std::exception& e) {
    std::cerr << "hubspot-sim: " << e.what() << "\n";
    return 2;
  }
}
