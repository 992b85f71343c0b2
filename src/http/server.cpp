#include "cshealthd/http/server.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "cshealthd/base/log.hpp"

namespace cshealthd::http {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

bool valid_request_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Request to_request(bhttp::request<bhttp::string_body>&& in) {
  Request r;
  r.method = std::string(in.method_string());
  r.target = std::string(in.target());
  const auto q = r.target.find('?');
  r.path = percent_decode(std::string_view(r.target).substr(0, q), false);
  if (q != std::string::npos) r.query = parse_query(std::string_view(r.target).substr(q + 1));
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  r.body = std::move(in.body());
  const std::string* id = r.header("x-request-id");
  r.request_id = (id && valid_request_id(*id)) ? *id : log::new_id();
  return r;
}

// Probes and scrapes are frequent and boring: their access lines go to debug.
bool quiet_route(const std::string& route) {
  return route == "/healthz" || route == "/readyz" || route == "/metrics";
}

}  // namespace

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(ServerOptions o, const Router& r, WorkerPool& w, metrics::Registry& m)
      : options(std::move(o)), router(r), workers(w), metrics(m), acceptor(net::make_strand(ioc)) {}

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void add(const std::shared_ptr<Session>& s);
  void remove(Session* s);
  void record(const std::string& route, const std::string& method, int status, double seconds);

  ServerOptions options;
  const Router& router;
  WorkerPool& workers;
  metrics::Registry& metrics;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable drained;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  int io_running = 0;  // io threads still inside ioc.run()
  std::condition_variable io_done;
  metrics::Gauge* open_connections = nullptr;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Server::Impl> server)
      : server_(std::move(server)), stream_(std::move(socket)) {}
  ~Session() { server_->remove(this); }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // Shutdown: a connection waiting for its next request is closed; one with a request in flight
  // finishes it and then closes (keep-alive is refused once stopping).
  void interrupt() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_) self->stream_.cancel();
    });
  }
  void force_close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.socket().close(ec);
    });
  }

 private:
  void do_read() {
    if (server_->stopping) return do_close();
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    reading_ = true;
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == bhttp::error::body_limit) {
      return reply_error(
          413, "payload_too_large",
          "request body exceeds " + std::to_string(server_->options.max_body_bytes) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      return reply_error(
          431, "headers_too_large",
          "request headers exceed " + std::to_string(server_->options.max_header_bytes) + " bytes");
    }
    if (ec) {
      // A client that closed, went idle past the timeout, or was interrupted by shutdown gets no answer;
      // a malformed request that did arrive gets a 400.
      const bool got_request_bytes = parser_->got_some();
      if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
          ec == beast::error::timeout || !got_request_bytes) {
        return do_close();
      }
      return reply_error(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    started_ = std::chrono::steady_clock::now();
    keep_alive_ = parser_->get().keep_alive();
    Request request = to_request(parser_->release());
    request_id_ = request.request_id;
    method_ = request.method;
    target_ = request.target;
    auto match = server_->router.match(request.method, request.path);
    route_ = match.route;
    if (!match.handler) {
      Response res = match.status == 405 ? Response::error(405, "method_not_allowed",
                                                           request.method + " is not allowed on " + route_)
                                         : Response::error(404, "not_found", "no route for " + request.path);
      if (match.status == 405) res.headers.emplace_back("Allow", match.allow);
      return do_write(std::move(res));
    }
    request.params = std::move(match.params);
    const Handler* handler = match.handler;
    // A request in a worker has no socket operation pending; this tracked executor is the work that
    // keeps the io threads running until its response is written.
    auto work = net::prefer(stream_.get_executor(), net::execution::outstanding_work.tracked);
    const bool posted =
        server_->workers.post([self = shared_from_this(), handler, work, req = std::move(request)] {
          Response res;
          {
            log::ContextScope ctx(req.request_id);
            try {
              res = (*handler)(req);
            } catch (const std::exception& e) {
              spdlog::error("handler for {} failed: {}", self->route_, e.what());
              res = Response::error(500, "internal",
                                    "internal error; see the service log for request " + req.request_id);
            }
          }
          net::post(work, [self, res = std::move(res)]() mutable { self->do_write(std::move(res)); });
        });
    if (!posted) do_write(Response::error(503, "shutting_down", "the service is shutting down"));
  }

  void reply_error(int status, const std::string& code, const std::string& message) {
    started_ = std::chrono::steady_clock::now();
    keep_alive_ = false;  // the rest of the stream cannot be trusted
    request_id_ = log::new_id();
    method_ = "-";
    target_ = "-";
    route_ = "unmatched";
    do_write(Response::error(status, code, message));
  }

  void do_write(Response res) {
    if (res.abort == Response::Abort::kCloseWithoutResponse) return abort_connection(res.status, "");
    auto msg =
        std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(res.status), 11);
    msg->set(bhttp::field::server, server_->options.server_name);
    msg->set(bhttp::field::content_type, res.content_type);
    msg->set("X-Request-Id", request_id_);
    for (const auto& [k, v] : res.headers) msg->set(k, v);
    const bool keep = keep_alive_ && !server_->stopping;
    msg->keep_alive(keep);
    msg->body() = std::move(res.body);
    msg->prepare_payload();
    if (res.abort == Response::Abort::kTruncateBody) {
      std::ostringstream raw;
      raw << *msg;
      const std::string bytes = raw.str();
      return abort_connection(res.status, bytes.substr(0, bytes.size() - msg->body().size() / 2 - 1));
    }
    status_ = res.status;
    stream_.expires_after(server_->options.write_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
                         self->on_write(ec, keep);
                       });
  }

  void on_write(beast::error_code ec, bool keep) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    server_->record(route_, method_, status_, seconds);
    {
      log::ContextScope ctx(request_id_);
      const auto level = quiet_route(route_) && status_ < 400 ? spdlog::level::debug : spdlog::level::info;
      spdlog::log(level, "http {} {} {} {:.1f}ms", method_, target_, status_, seconds * 1000);
    }
    if (ec || !keep) return do_close();
    do_read();
  }

  // Writes `prefix` (possibly nothing) and closes: the client sees a reset or a short body.
  void abort_connection(int status, std::string prefix) {
    status_ = status;
    auto bytes = std::make_shared<std::string>(std::move(prefix));
    stream_.expires_after(server_->options.write_timeout);
    net::async_write(stream_, net::buffer(*bytes),
                     [self = shared_from_this(), bytes](beast::error_code, std::size_t) {
                       self->server_->record(self->route_, self->method_, 0, 0);
                       beast::error_code ec;
                       self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
                       self->stream_.socket().close(ec);
                     });
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // Declared first so it is released last: the stream below must close while the io_context it
  // belongs to (owned by the server) still exists, even when this session outlives the Server object.
  std::shared_ptr<Server::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool reading_ = false;
  bool keep_alive_ = false;
  int status_ = 0;
  std::string request_id_, method_, target_, route_;
  std::chrono::steady_clock::time_point started_;
};

void Server::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping) return;
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of file descriptors and the like: pause instead of spinning.
    spdlog::warn("http accept failed: {}", ec.message());
    auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor(), std::chrono::milliseconds(100));
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) {
      if (!self->stopping) self->do_accept();
    });
    return;
  }
  auto session = std::make_shared<Session>(std::move(socket), shared_from_this());
  add(session);
  session->run();
  do_accept();
}

void Server::Impl::add(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mutex);
  sessions[s.get()] = s;
  open_connections->set(static_cast<double>(sessions.size()));
}

void Server::Impl::remove(Session* s) {
  std::lock_guard lock(mutex);
  sessions.erase(s);
  open_connections->set(static_cast<double>(sessions.size()));
  if (sessions.empty()) drained.notify_all();
}

void Server::Impl::record(const std::string& route, const std::string& method, int status, double seconds) {
  metrics
      .counter("cshealthd_http_requests_total", "HTTP requests answered, by route, method and status",
               {{"route", route}, {"method", method}, {"status", std::to_string(status)}})
      .inc();
  metrics
      .histogram("cshealthd_http_request_duration_seconds", "HTTP request latency, by route",
                 {{"route", route}})
      .observe(seconds);
}

Server::Server(ServerOptions options, const Router& router, WorkerPool& workers, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(std::move(options), router, workers, metrics)) {
  impl_->open_connections = &metrics.gauge("cshealthd_http_open_connections", "HTTP connections open now");
}

Server::~Server() {
  shutdown(std::chrono::milliseconds(0));
  // A handler that finished after the io threads returned (past a shutdown deadline) posted its write
  // here and holds its connection, which holds this server: run such leftovers out so nothing leaks.
  impl_->ioc.restart();
  impl_->ioc.poll();
}

void Server::start() {
  auto& im = *impl_;
  beast::error_code ec;
  const auto address = net::ip::make_address(im.options.host, ec);
  if (ec) throw std::runtime_error("http.listen: bad address '" + im.options.host + "': " + ec.message());
  const tcp::endpoint endpoint(address, im.options.port);
  im.acceptor.open(endpoint.protocol(), ec);
  if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(endpoint, ec);
  if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("http.listen: cannot listen on " + im.options.host + ":" +
                             std::to_string(im.options.port) + ": " + ec.message());
  }
  im.do_accept();
  im.io_running = im.options.io_threads;
  for (int i = 0; i < im.options.io_threads; ++i) {
    im.threads.emplace_back([impl = impl_] {
      impl->ioc.run();
      std::lock_guard lock(impl->mutex);
      --impl->io_running;
      impl->io_done.notify_all();
    });
  }
}

std::uint16_t Server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

std::string Server::address() const {
  const auto ep = impl_->acceptor.local_endpoint();
  const auto host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  return host + ":" + std::to_string(ep.port());
}

bool Server::shutdown(std::chrono::milliseconds deadline) {
  auto& im = *impl_;
  if (im.threads.empty()) return true;
  im.stopping = true;
  net::post(im.acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(im.mutex);
    for (auto& [ptr, weak] : im.sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->interrupt();
  live.clear();

  bool clean = true;
  {
    std::unique_lock lock(im.mutex);
    clean = im.drained.wait_for(lock, deadline, [&] { return im.sessions.empty(); });
    if (!clean) {
      spdlog::warn("http: {} connection(s) still busy at the shutdown deadline; closing them",
                   im.sessions.size());
      for (auto& [ptr, weak] : im.sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
  }
  for (auto& s : live) s->force_close();
  live.clear();
  // With the acceptor and every connection closed the io threads run out of work and return, which
  // also releases every handler (and the references they hold). stop() is only the last resort.
  {
    std::unique_lock lock(im.mutex);
    if (!im.io_done.wait_for(lock, std::chrono::seconds(2), [&] { return im.io_running == 0; }))
      im.ioc.stop();
  }
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  return clean;
}

}  // namespace cshealthd::http
