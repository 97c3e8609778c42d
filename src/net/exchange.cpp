#include "net/exchange.h"

#include "net/connection.h"

namespace phigate::net {

std::string_view Exchange::clientIp() const {
  return client_ip.empty() ? std::string_view(conn_.peer().text) : client_ip;
}

const unsigned char (&Exchange::peerBytes() const)[16] { return conn_.peer().bytes; }

Worker& Exchange::worker() const { return conn_.worker(); }

void Exchange::reset(uint64_t start_ns) {
  request_ = nullptr;
  request_id_ = {};
  route_name = "-";
  route = nullptr;
  body_limit = 0;
  event = obs::SecurityEvent::kNone;
  reason = {};
  key_id = {};
  client_ip = {};
  app_data = nullptr;
  responded_ = false;
  start_ns_ = start_ns;
}

void Exchange::attach(const HttpRequest* req) {
  request_ = req;
  if (request_id_.empty()) request_id_ = chooseRequestId(req->request_id, request_id_buf_);
}

std::string_view Exchange::ensureRequestId() {
  if (request_id_.empty()) request_id_ = freshRequestId(request_id_buf_);
  return request_id_;
}

void Exchange::respond(int status, std::string_view content_type, std::string_view body,
                       std::span<const HeaderField> extra) {
  if (responded_) return;
  responded_ = true;
  ensureRequestId();
  conn_.finish(*this, status, content_type, body, extra);
}

void Exchange::abortConnection() {
  if (responded_) return;
  conn_.close(/*reset=*/true);
}

}  // namespace phigate::net
