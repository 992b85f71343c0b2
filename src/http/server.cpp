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

// The request as handlers see it, from the header alone; the body is added once it is read.
Request to_request(const bhttp::request_parser<bhttp::string_body>::value_type& in) {
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
  const std::string* id = r.header("x-request-id");
  r.request_id = (id && valid_request_id(*id)) ? *id : log::new_id();
  return r;
}

// Probes and scrapes are frequent and boring: their access lines go to debug.
bool quiet_route(const std::string& route) {
  return route == "/healthz" || route == "/readyz" || route == "/metrics";
}

// A request target as the access log shows it: bounded, control characters replaced (what is not UTF-8
// is replaced by the log's own escaping).
std::string loggable(std::string_view target) {
  constexpr std::size_t kMax = 256;
  std::string out(target.substr(0, kMax));
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (target.size() > kMax) out += "...";
  return out;
}

}  // namespace

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(ServerOptions o, const Router& r, WorkerPool& w, metrics::Registry& m)
      : options(std::move(o)), router(r), workers(w), metrics(m), acceptor(net::make_strand(ioc)) {}

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  bool add(const std::shared_ptr<Session>& s);  // false past max_connections
  void remove(Session* s);
  void record(const std::string& route, const std::string& method, int status, double seconds);
  // An exception on an I/O thread: counted and logged here, once; the connection is then closed.
  void connection_error(const char* step, const char* what);
  void run_io();

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
  metrics::Counter* refused = nullptr;
  metrics::Counter* overloaded = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Counter* idle_timeouts = nullptr;
  metrics::Counter* request_timeouts = nullptr;
  metrics::Counter* write_timeouts = nullptr;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Server::Impl> server)
      : server_(std::move(server)), stream_(std::move(socket)) {}
  ~Session() {
    if (registered_) server_->remove(this);
  }

  void run() {
    registered_ = true;
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
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
  }

 private:
  // Runs one step of the connection; an exception closes this connection only.
  template <typename Step>
  void guarded(const char* name, Step&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      server_->connection_error(name, e.what());
      close_now();
    } catch (...) {
      server_->connection_error(name, "unknown exception");
      close_now();
    }
  }

  void do_read() {
    if (server_->stopping) return do_close();
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    reading_ = true;
    if (buffer_.size() > 0) return start_request();  // a pipelined request is already here
    // Idle: waiting for the first byte of the next request.
    stream_.expires_after(server_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              self->guarded("read", [&] {
                                if (ec) {
                                  self->reading_ = false;
                                  if (ec == beast::error::timeout) self->server_->idle_timeouts->inc();
                                  return self->do_close();
                                }
                                self->start_request();
                              });
                            });
  }

  void start_request() {
    // One deadline for the whole request, header and body: it is not renewed by each read.
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->guarded("read header", [&] { self->on_header(ec); });
                             });
  }

  // Fails the read; true when the connection was answered or closed.
  bool read_failed(beast::error_code ec) {
    if (!ec) return false;
    reading_ = false;
    if (ec == bhttp::error::body_limit) {
      reply_error(413, "payload_too_large",
                  "request body exceeds " + std::to_string(server_->options.max_body_bytes) + " bytes");
    } else if (ec == bhttp::error::header_limit) {
      reply_error(431, "headers_too_large",
                  "request headers exceed " + std::to_string(server_->options.max_header_bytes) + " bytes");
    } else if (ec == beast::error::timeout) {
      // Too slow: dropped without an answer (a trickling client gets nothing to wait for).
      server_->request_timeouts->inc();
      do_close();
    } else if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
               !parser_->got_some()) {
      do_close();
    } else {
      // A malformed request that did arrive gets a 400. The parser's words name no client bytes.
      reply_error(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    return true;
  }

  void on_header(beast::error_code ec) {
    if (read_failed(ec)) return;
    started_ = std::chrono::steady_clock::now();
    const auto& header = parser_->get();
    keep_alive_ = header.keep_alive();
    request_ = to_request(header);
    request_id_ = request_.request_id;
    method_ = method_label(request_.method);
    target_ = loggable(request_.target);
    auto match = server_->router.match(request_.method, request_.path);
    route_ = match.route;
    handler_ = match.handler;
    options_ = match.options;
    request_.params = std::move(match.params);
    std::optional<Response> early;
    if (!handler_) {
      early = match.status == 405 ? Response::error(405, "method_not_allowed",
                                                    request_.method + " is not allowed on " + route_)
                                  : Response::error(404, "not_found", "no route for " + request_.path);
      if (match.status == 405) early->headers.emplace_back("Allow", match.allow);
    } else if (options_->precheck) {
      log::ContextScope ctx(request_id_);
      early = options_->precheck(request_);  // e.g. the bearer token: checked before any body is read
    }
    if (early) {
      reading_ = false;
      // The body was not read: the stream cannot carry another request unless there was none.
      if (!parser_->is_done()) keep_alive_ = false;
      return do_write(std::move(*early));
    }
    if (parser_->is_done()) return on_read({});
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code e, std::size_t) {
                        self->guarded("read body", [&] { self->on_read(e); });
                      });
  }

  void on_read(beast::error_code ec) {
    if (read_failed(ec)) return;
    reading_ = false;
    request_.body = std::move(parser_->get().body());
    if (options_->dispatch == RouteOptions::Dispatch::kInline) return do_write(call(*handler_, request_));
    // A request in a worker has no socket operation pending; this tracked executor is the work that
    // keeps the io threads running until its response is written.
    auto work = net::prefer(stream_.get_executor(), net::execution::outstanding_work.tracked);
    const auto posted = server_->workers.try_post(
        [self = shared_from_this(), handler = handler_, work, req = std::move(request_)] {
          Response res = call(*handler, req);
          net::post(work, [self, res = std::move(res)]() mutable {
            self->guarded("write", [&] { self->do_write(std::move(res)); });
          });
        });
    if (posted == WorkerPool::Posted::kFull) {
      server_->overloaded->inc();
      auto res = Response::error(503, "overloaded", "the service is busy; retry shortly");
      res.headers.emplace_back("Retry-After", std::to_string(server_->options.overload_retry_after_s));
      return do_write(std::move(res));
    }
    if (posted == WorkerPool::Posted::kStopping)
      do_write(Response::error(503, "shutting_down", "the service is shutting down"));
  }

  static Response call(const Handler& handler, const Request& req) {
    log::ContextScope ctx(req.request_id);
    try {
      return handler(req);
    } catch (const std::exception& e) {
      spdlog::error("handler failed: {}", e.what());
    } catch (...) {
      spdlog::error("handler failed with an unknown exception");
    }
    return Response::error(500, "internal",
                           "internal error; see the service log for request " + req.request_id);
  }

  void reply_error(int status, const std::string& code, const std::string& message) {
    started_ = std::chrono::steady_clock::now();
    keep_alive_ = false;  // the rest of the stream cannot be trusted
    request_id_ = log::new_id();
    method_ = "other";
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
                         self->guarded("after write", [&] { self->on_write(ec, keep); });
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
    if (ec == beast::error::timeout) server_->write_timeouts->inc();
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
                       self->close_now();
                     });
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  void close_now() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  static constexpr std::size_t kFirstRead = 4096;

  // Declared first so it is released last: the stream below must close while the io_context it
  // belongs to (owned by the server) still exists, even when this session outlives the Server object.
  std::shared_ptr<Server::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request request_;
  const Handler* handler_ = nullptr;
  const RouteOptions* options_ = nullptr;
  bool registered_ = false;
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
  if (add(session)) {
    session->run();
  } else {
    refused->inc();  // past the cap: closed at once (the session's socket closes as it is released)
  }
  do_accept();
}

bool Server::Impl::add(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mutex);
  if (sessions.size() >= options.max_connections) return false;
  sessions[s.get()] = s;
  open_connections->set(static_cast<double>(sessions.size()));
  return true;
}

void Server::Impl::remove(Session* s) {
  std::lock_guard lock(mutex);
  sessions.erase(s);
  // A worker may release the last reference to a session after the Server (and the registry its
  // metrics live in) is gone: then there is no gauge to update.
  if (open_connections) open_connections->set(static_cast<double>(sessions.size()));
  if (sessions.empty()) drained.notify_all();
}

void Server::Impl::connection_error(const char* step, const char* what) {
  errors->inc();
  spdlog::error("http: a connection failed in {} and was closed: {}", step, what);
}

// The last line of defence: an exception that escaped a completion handler ends that handler (and
// releases the connection it held), never the thread or the process.
void Server::Impl::run_io() {
  while (true) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      connection_error("io thread", e.what());
    } catch (...) {
      connection_error("io thread", "unknown exception");
    }
  }
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
  impl_->refused = &metrics.counter("cshealthd_http_connections_refused_total",
                                    "Connections closed at once because http.max_connections were open");
  impl_->overloaded = &metrics.counter("cshealthd_http_overloaded_total",
                                       "Requests answered 503 because the worker queue was full");
  impl_->errors = &metrics.counter("cshealthd_http_connection_errors_total",
                                   "Connections closed after an unexpected error on an I/O thread");
  const auto timeouts = [&](const char* phase) {
    return &metrics.counter("cshealthd_http_timeouts_total",
                            "Connections dropped at a deadline: idle (no request), request (too slow to "
                            "send one), write (too slow to read the answer)",
                            {{"phase", phase}});
  };
  impl_->idle_timeouts = timeouts("idle");
  impl_->request_timeouts = timeouts("request");
  impl_->write_timeouts = timeouts("write");
}

Server::~Server() {
  shutdown(std::chrono::milliseconds(0));
  // A handler that finished after the io threads returned (past a shutdown deadline) posted its write
  // here and holds its connection, which holds this server: run such leftovers out so nothing leaks.
  impl_->ioc.restart();
  impl_->ioc.poll();
  std::lock_guard lock(impl_->mutex);
  impl_->open_connections = nullptr;  // the registry may go before the last session does
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
      impl->run_io();
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
  // also releases every handler (and the references they hold). A handler still running keeps them
  // (its response is tracked work): past the deadline they get only a moment to close the sockets,
  // then stop() ends them, so shutdown stays within its deadline; what the handler posts later waits
  // in the stopped context (~Server runs it out).
  {
    std::unique_lock lock(im.mutex);
    const auto grace = clean ? std::chrono::milliseconds(2000) : std::chrono::milliseconds(100);
    if (!im.io_done.wait_for(lock, grace, [&] { return im.io_running == 0; })) im.ioc.stop();
  }
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  return clean;
}

}  // namespace cshealthd::http
