// The generic JSON SMS provider: one POST per message with a bearer token
// and our message id as the Idempotency-Key, so a retry after a timeout is
// answered, not sent again (if the provider honours the key). No delivery
// reports: "sent" is the last state a message reaches through this adapter.
// docs/PROVIDERS.md describes the protocol.
#pragma once

#include <memory>
#include <string>

#include "common/buffer.h"
#include "delivery/sms_adapter.h"

namespace simdjson::dom {
class parser;
}

namespace phigate::delivery {

struct HttpOptions {
  std::string url;
  std::string token;  // sent as "Authorization: Bearer <token>"
};

class HttpAdapter final : public SmsAdapter {
 public:
  explicit HttpAdapter(const HttpOptions& opts);
  ~HttpAdapter() override;
  HttpAdapter(const HttpAdapter&) = delete;
  HttpAdapter& operator=(const HttpAdapter&) = delete;

  std::string_view name() const override { return "http"; }
  /** Permanent failure "bad-id": the message id is not [A-Za-z0-9._-]{1,64} (it goes into a header). */
  bool build(const SmsToSend& m, OutboundRequest* out, std::string_view* error_code) const override;
  SendVerdict classify(const net::HttpResult& r) const override;

 private:
  std::string url_;
  std::string authorization_;  // "Authorization: Bearer <token>", built once
  // Reused by every call: one adapter serves one worker's loop.
  mutable Buffer body_;
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace phigate::delivery
