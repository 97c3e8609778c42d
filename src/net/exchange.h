// One request/response in progress on a connection, and the interface the
// application (router + handlers) implements. The net layer knows nothing of
// routes; it asks the application at two points (head, complete message).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "net/http_request.h"
#include "net/request_id.h"
#include "net/response.h"
#include "obs/security_event.h"

namespace phigate::net {

class Connection;
class Worker;

/** A request being answered. Owned by its Connection and reused. */
class Exchange {
 public:
  explicit Exchange(Connection& conn) : conn_(conn) {}

  const HttpRequest& request() const { return *request_; }
  bool hasRequest() const { return request_ != nullptr; }
  std::string_view requestId() const { return request_id_; }
  /** The request id, making a fresh one if the head was never parsed. */
  std::string_view ensureRequestId();
  std::string_view clientIp() const;
  /** The socket peer's address (IPv4 as IPv4-mapped IPv6). */
  const unsigned char (&peerBytes() const)[16];
  Worker& worker() const;
  /** Monotonic time (ns) at which the first byte of this request arrived. */
  uint64_t startNs() const { return start_ns_; }

  /** Sends the response. Exactly once per exchange; later calls are ignored. */
  void respond(int status, std::string_view content_type, std::string_view body,
               std::span<const HeaderField> extra = {});
  bool responded() const { return responded_; }
  /**
   * Closes the connection at once, unanswered, with a reset: how a test tool
   * (the mock provider's --drop-rate) plays a reply lost on the way. The
   * application's onDone runs from inside this call, and the exchange must
   * not be used afterwards. Ignored once respond() was called.
   */
  void abortConnection();

  // Set by the application at onHead():
  std::string_view route_name = "-";  // static string, for the access log
  const void* route = nullptr;        // the application's route entry
  uint64_t body_limit = 0;            // bytes; the net layer caps it at MAX_CONTENT_LENGTH
  obs::SecurityEvent event = obs::SecurityEvent::kNone;  // logged with the response
  std::string_view reason;            // static reason code for the audit line
  std::string_view key_id;            // the authenticated key (never the token)
  std::string_view client_ip;         // as resolved by the pipeline; the peer until then
  void* app_data = nullptr;           // the application's per-exchange state

 private:
  friend class Connection;
  void reset(uint64_t start_ns);
  void attach(const HttpRequest* req);

  Connection& conn_;
  const HttpRequest* request_ = nullptr;
  std::string_view request_id_;
  char request_id_buf_[kMaxRequestIdLength];
  uint64_t start_ns_ = 0;
  bool responded_ = false;
};

/** The application behind the server: routing and handlers. */
class Application {
 public:
  virtual ~Application() = default;
  /**
   * The head is complete. Set route/route_name/body_limit on the exchange, or
   * respond() now (the connection then closes, as the body is not read).
   */
  virtual void onHead(Exchange& ex) = 0;
  /** The whole message (with body) has arrived: answer it, now or later. */
  virtual void onRequest(Exchange& ex) = 0;
  /**
   * The exchange is over: answered, or its connection closed before it was
   * (then responded() is false and the Exchange must not be used again).
   */
  virtual void onDone(Exchange& ex) { (void)ex; }
  /** The worker's loop runs: start background work (store connections, timers). */
  virtual void onStart(Worker& worker) { (void)worker; }
  /** The worker is done (drained): close every handle onStart opened. */
  virtual void onStop() {}
  /**
   * True when a socket peer speaks for many clients (a trusted reverse proxy
   * or load balancer): its connections count against the worker's cap only,
   * not the per-address one, which would otherwise throttle the proxy's
   * pool. `bytes` is the peer's IPv6 or IPv4-mapped address. Called once
   * per accepted connection.
   */
  virtual bool sharedPeer(const unsigned char (&bytes)[16]) const {
    (void)bytes;
    return false;
  }
};

}  // namespace phigate::net
