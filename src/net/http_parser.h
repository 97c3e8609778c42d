// HTTP/1.1 request parsing over a connection's contiguous read buffer:
// HeadScanner (byte rules, limits) then llhttp (grammar), with the framing
// rules of RFC 9112 enforced on top. Pull-style: advance() returns at the end
// of the head and at the end of the message, pausing llhttp so the owner can
// decide (route, body limit, 100-continue) and so pipelined requests are
// handled strictly one after another.
//
// Header and body positions are kept as offsets from the message start, so the
// owner may move (compact/grow) its buffer between calls; string_views in
// request() are rebuilt at each event and valid until the buffer moves.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "net/head_scanner.h"
#include "net/http_request.h"
#include "obs/security_event.h"

namespace phigate::net {

/** HTTP status a framing/limit violation is answered with. */
int statusForViolation(obs::SecurityEvent e);

/** True when `value` is a valid Host field value: uri-host [":" port], or empty. */
bool isValidHostHeader(std::string_view value);

class HttpParser {
 public:
  enum class Event { kNeedMore, kHeadersComplete, kMessageComplete, kError };

  explicit HttpParser(const HeadLimits& limits);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  /** Starts a new message whose first byte is (or will be) at offset `start`. */
  void begin(size_t start);

  /** Parses base[consumed(), end). Stops at the first event. */
  Event advance(char* base, size_t end);

  /** Body limit for the current message; call after kHeadersComplete. */
  void setBodyLimit(uint64_t limit) { body_limit_ = limit; }

  /**
   * The owner moved the unparsed bytes down to bodyEnd(), dropping framing
   * llhttp has consumed (chunk-size lines). llhttp keeps no pointer into the
   * buffer between calls, so parsing simply continues from there.
   */
  void dropParsedGap() { parsed_ = bodyEnd(); }

  /** Shifts all offsets after the owner moved its buffer down by `delta`. */
  void shift(size_t delta);

  const HttpRequest& request() const { return request_; }
  obs::SecurityEvent error() const { return error_; }
  size_t messageStart() const { return msg_start_; }
  size_t consumed() const { return parsed_; }
  /** Bytes of this message (head + de-chunked body) occupy [messageStart, end). */
  size_t bodyEnd() const { return msg_start_ + body_off_ + body_len_; }
  bool headComplete() const { return head_done_; }
  /** True once any non-CRLF byte of a new message has been seen. */
  bool messageStarted() const { return scanner_.started() || head_done_; }

 private:
  struct Span {
    uint32_t off = 0;
    uint32_t len = 0;
  };
  struct HeaderSpan {
    Span name;
    Span value;
  };

  static const llhttp_settings_t kSettings;
  static HttpParser& self(llhttp_t* p) { return *static_cast<HttpParser*>(p->data); }

  int fail(obs::SecurityEvent e);
  int extend(Span& span, const char* at, size_t len);
  int onHeaderFieldComplete();
  int onHeadersComplete();
  int onBody(const char* at, size_t len);
  obs::SecurityEvent checkFraming();
  bool requestLineIsExact() const;
  obs::SecurityEvent classifyTarget();
  void materializeHead();
  obs::SecurityEvent mapLlhttpError(llhttp_errno_t err) const;

  HeadScanner scanner_;
  llhttp_t parser_;
  char* base_ = nullptr;        // valid only inside advance()
  size_t msg_start_ = 0;
  size_t parsed_ = 0;
  bool head_done_ = false;
  bool paused_for_message_ = false;
  obs::SecurityEvent error_ = obs::SecurityEvent::kNone;

  Span url_;
  std::vector<HeaderSpan> header_spans_;
  std::vector<Header> headers_;
  bool in_value_ = false;
  uint32_t body_off_ = 0;       // relative to msg_start_
  uint32_t body_len_ = 0;
  bool body_started_ = false;
  uint64_t body_limit_ = 0;
  uint32_t chunk_ext_bytes_ = 0;
  HttpRequest request_;
};

}  // namespace phigate::net
