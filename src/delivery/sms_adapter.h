// A provider adapter builds the HTTP request for one SMS and classifies the
// reply; it owns no socket and does no I/O (h2o's split of protocol client,
// engine and registration). One HTTP client on the worker's loop carries
// every adapter's requests; the outbox consumer (the engine) decides what to
// send when, and what a verdict does to the message's lifecycle.
//
// Nothing an adapter returns may carry a provider's free text: error codes
// are fixed strings from the adapter's own table ("cdac-405", "http-503",
// "timeout"), because a reply may echo the recipient or the message back.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.h"

namespace phigate::delivery {

/** Which lane a message travels in, and what the provider is told it is. */
enum class SmsKind : uint8_t {
  kOtp,            // CDAC otpmsg / unicodeotpmsg; priority lane
  kTransactional,  // CDAC singlemsg / unicodemsg; priority lane
  kBulk,           // CDAC bulkmsg (bulkmobno); bulk lane
};

enum class TextEncoding : uint8_t { kGsm7, kUcs2 };

/** One SMS as the consumer hands it to an adapter (views valid during the call). */
struct SmsToSend {
  std::string_view message_id;   // phigate's id, 32 hex: the idempotency reference
  std::string_view to;           // E.164, "+919812345678"
  std::string_view text;         // UTF-8, as the client sent it
  std::string_view template_id;  // DLT template id; may be empty
  std::string_view sender_id;    // the message's own sender id; empty: the account's
  SmsKind kind = SmsKind::kTransactional;
  TextEncoding encoding = TextEncoding::kGsm7;
  uint32_t attempt = 1;          // 1 for the first try
};

using HttpMethod = net::HttpMethod;  // kGet, kPost

/** An outbound request an adapter built; reused between calls (no per-send allocation once warm). */
struct OutboundRequest {
  HttpMethod method = HttpMethod::kPost;
  std::string url;
  std::vector<std::string> headers;  // "Name: value", no CR/LF
  std::string body;
  void clear() {
    method = HttpMethod::kPost;
    url.clear();
    headers.clear();
    body.clear();
  }
};

enum class Outcome : uint8_t {
  kSent,       // the provider accepted it (provider_message_id set)
  kRetry,      // temporary: try again later (the same message id)
  kPermanent,  // final: the provider will never accept it
};

struct SendVerdict {
  Outcome outcome = Outcome::kRetry;
  // kSent: the provider's id, only [A-Za-z0-9._:-], at most 64 characters
  // (an id outside that is replaced by "-": it goes into records and logs).
  std::string provider_message_id;
  // A fixed string from the adapter's table, never provider text: "cdac-405",
  // "http-503", "timeout", "connect", "tls", "too-large", "malformed".
  std::string_view error_code;
};

/** A delivery report item. */
enum class ReportState : uint8_t { kPending, kDelivered, kUndelivered };
struct ReportItem {
  std::string provider_message_id;
  ReportState state = ReportState::kPending;
  std::string_view error_code;  // fixed text, kUndelivered only
};

class SmsAdapter {
 public:
  virtual ~SmsAdapter() = default;
  /** "cdac" or "http": stored in the message record and shown by GET /v1/messages/{id}. */
  virtual std::string_view name() const = 0;
  /** Builds the request for `m` into `out` (cleared first). False: the message cannot be sent
   *  by this provider at all (a permanent failure with `*error_code`). */
  virtual bool build(const SmsToSend& m, OutboundRequest* out, std::string_view* error_code) const = 0;
  /** What the reply to build()'s request means. */
  virtual SendVerdict classify(const net::HttpResult& r) const = 0;

  /** Whether this provider reports delivery (then sent messages are polled). */
  virtual bool hasReports() const { return false; }
  /** Most provider ids one report request may carry. */
  virtual size_t maxReportBatch() const { return 1; }
  /** Builds a report request for `provider_ids` (at most maxReportBatch()). */
  virtual void buildReport(std::span<const std::string_view> provider_ids, OutboundRequest* out) const {
    (void)provider_ids;
    out->clear();
  }
  /** Parses a report reply into `out` (cleared first); ids it does not mention stay pending.
   *  False: not a report (a transport error, a non-200, an error line, malformed). */
  virtual bool parseReport(const net::HttpResult& r, std::vector<ReportItem>* out) const {
    (void)r;
    (void)out;
    return false;
  }
};

/** Replaces a provider id that is not [A-Za-z0-9._:-]{1,64} with "-". */
std::string sanitizeProviderId(std::string_view id);

}  // namespace phigate::delivery
