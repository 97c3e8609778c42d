#include "net/http_parser.h"

#include <cstring>
#include <iterator>

namespace phigate::net {

using obs::SecurityEvent;

namespace {

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

Method mapMethod(uint8_t m) {
  switch (m) {
    case HTTP_GET: return Method::kGet;
    case HTTP_HEAD: return Method::kHead;
    case HTTP_POST: return Method::kPost;
    case HTTP_PUT: return Method::kPut;
    case HTTP_DELETE: return Method::kDelete;
    case HTTP_OPTIONS: return Method::kOptions;
    case HTTP_PATCH: return Method::kPatch;
    default: return Method::kOther;
  }
}

// Content-Length = 1*DIGIT; we also cap it at 18 digits so it fits int64.
bool parseContentLength(std::string_view v, int64_t* out) {
  if (v.empty() || v.size() > 18) return false;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  *out = n;
  return true;
}

bool startsWithLower(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() &&
         equalsLower(s.substr(0, lower_prefix.size()), lower_prefix);
}

// RFC 3986 reg-name: unreserved / pct-encoded / sub-delims.
bool isRegNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '!' || c == '$' || c == '&' || c == '\'' ||
         c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

bool isRegName(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !isHexDigit(s[i + 1]) || !isHexDigit(s[i + 2])) return false;
      i += 2;
    } else if (!isRegNameChar(s[i])) {
      return false;
    }
  }
  return true;
}

// An IPv6 literal's characters (inet_pton-level checks are not needed: the
// value is never used to connect anywhere, only refused when it cannot be one).
bool isIpv6Literal(std::string_view s) {
  if (s.find(':') == std::string_view::npos) return false;
  for (char c : s) {
    if (!isHexDigit(c) && c != ':' && c != '.') return false;
  }
  return true;
}

// port = *DIGIT (RFC 3986); more than 65535 is no port at all.
bool isPort(std::string_view s) {
  if (s.size() > 5) return false;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 65535;
}

}  // namespace

// Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2). Empty is
// allowed: it is what a request for an authority-less URI sends. Userinfo
// ("user@host"), spaces, controls and non-ASCII bytes are not part of it.
bool isValidHostHeader(std::string_view v) {
  if (v.empty()) return true;
  std::string_view host = v;
  std::string_view rest;
  if (v.front() == '[') {
    const size_t close = v.find(']');
    if (close == std::string_view::npos || !isIpv6Literal(v.substr(1, close - 1))) return false;
    rest = v.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    host = {};
  } else {
    const size_t colon = v.find(':');
    if (colon != std::string_view::npos) {
      host = v.substr(0, colon);
      rest = v.substr(colon);
    }
    if (host.empty() || !isRegName(host)) return false;
  }
  return rest.empty() || isPort(rest.substr(1));
}

int statusForViolation(SecurityEvent e) {
  switch (e) {
    case SecurityEvent::kRequestLineTooLong: return 414;
    case SecurityEvent::kHeadersTooLarge:
    case SecurityEvent::kTooManyHeaders: return 431;
    case SecurityEvent::kBodyTooLarge: return 413;
    case SecurityEvent::kUnsupportedVersion: return 505;
    case SecurityEvent::kMethodRefused: return 501;
    case SecurityEvent::kBadExpect: return 417;
    case SecurityEvent::kHeaderTimeout:
    case SecurityEvent::kBodyTimeout: return 408;
    default: return 400;
  }
}

// llhttp calls through these trampolines; `data` holds the HttpParser.
const llhttp_settings_t HttpParser::kSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_url = [](llhttp_t* p, const char* at, size_t n) { return self(p).extend(self(p).url_, at, n); };
  s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    HttpParser& h = self(p);
    if (h.head_done_) return h.fail(SecurityEvent::kTrailers);
    if (h.header_spans_.empty() || h.in_value_) {
      h.header_spans_.emplace_back();
      h.in_value_ = false;
    }
    return h.extend(h.header_spans_.back().name, at, n);
  };
  s.on_header_field_complete = [](llhttp_t* p) { return self(p).onHeaderFieldComplete(); };
  s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    HttpParser& h = self(p);
    return h.extend(h.header_spans_.back().value, at, n);
  };
  s.on_headers_complete = [](llhttp_t* p) { return self(p).onHeadersComplete(); };
  s.on_body = [](llhttp_t* p, const char* at, size_t n) { return self(p).onBody(at, n); };
  s.on_chunk_header = [](llhttp_t* p) {
    HttpParser& h = self(p);
    h.chunk_ext_bytes_ = 0;
    // The chunk's size is known before its data: refuse a chunk that cannot
    // fit now, rather than wait (until the body timeout) for data we would
    // refuse anyway. body_len_ <= body_limit_ always holds (see onBody).
    if (p->content_length > h.body_limit_ - h.body_len_) {
      return h.fail(SecurityEvent::kBodyTooLarge);
    }
    return 0;
  };
  auto ext = [](llhttp_t* p, const char*, size_t n) {
    HttpParser& h = self(p);
    h.chunk_ext_bytes_ += static_cast<uint32_t>(n);
    // Chunk extensions are legal but useless to us; bound them so they cannot
    // be used to make us scan unbounded bytes that never count as body.
    return h.chunk_ext_bytes_ > 256 ? h.fail(SecurityEvent::kBadChunk) : 0;
  };
  s.on_chunk_extension_name = ext;
  s.on_chunk_extension_value = ext;
  s.on_message_complete = [](llhttp_t* p) {
    HttpParser& h = self(p);
    h.request_.keep_alive = llhttp_should_keep_alive(p) != 0;
    h.paused_for_message_ = true;
    return static_cast<int>(HPE_PAUSED);
  };
  return s;
}();

HttpParser::HttpParser(const HeadLimits& limits) : scanner_(limits) {
  llhttp_init(&parser_, HTTP_REQUEST, &kSettings);
  parser_.data = this;
  header_spans_.reserve(16);
  headers_.reserve(16);
}

void HttpParser::begin(size_t start) {
  msg_start_ = start;
  parsed_ = start;
  head_done_ = false;
  paused_for_message_ = false;
  error_ = SecurityEvent::kNone;
  url_ = {};
  header_spans_.clear();
  headers_.clear();
  in_value_ = false;
  body_off_ = 0;
  body_len_ = 0;
  body_started_ = false;
  body_limit_ = 0;
  chunk_ext_bytes_ = 0;
  request_ = HttpRequest{};
  scanner_.reset(start);
}

void HttpParser::shift(size_t delta) {
  msg_start_ -= delta;
  parsed_ -= delta;
  scanner_.shift(delta);
}

int HttpParser::fail(SecurityEvent e) {
  if (error_ == SecurityEvent::kNone) error_ = e;
  return HPE_USER;
}

// llhttp reports a token in pieces when it spans reads; in our contiguous
// buffer the pieces are adjacent, so a span only ever grows.
int HttpParser::extend(Span& span, const char* at, size_t len) {
  const auto off = static_cast<uint32_t>(static_cast<size_t>(at - base_) - msg_start_);
  if (span.len == 0) {
    span.off = off;
  } else if (off != span.off + span.len) {
    return fail(SecurityEvent::kMalformed);
  }
  span.len += static_cast<uint32_t>(len);
  return 0;
}

int HttpParser::onHeaderFieldComplete() {
  in_value_ = true;
  return 0;
}

HttpParser::Event HttpParser::advance(char* base, size_t end) {
  if (error_ != SecurityEvent::kNone) return Event::kError;
  size_t feed_end = end;
  if (!head_done_) {
    // llhttp only ever sees whole lines that passed the scanner (and, once
    // the head is complete, what follows it). So whichever check refuses a
    // bad head, the answer does not depend on how the network split the
    // bytes. Past the head's end llhttp pauses at on_headers_complete, so it
    // never runs ahead into the next pipelined head either.
    const HeadScanner::Result r = scanner_.scan(base, end);
    if (r != HeadScanner::Result::kComplete) feed_end = scanner_.checkedEnd();
    if (r == HeadScanner::Result::kError) {
      if (feed_end > parsed_) {
        base_ = base;
        const llhttp_errno_t err = llhttp_execute(&parser_, base + parsed_, feed_end - parsed_);
        if (err != HPE_OK && err != HPE_PAUSED && error_ == SecurityEvent::kNone) {
          error_ = mapLlhttpError(err);
        }
      }
      if (error_ == SecurityEvent::kNone) error_ = scanner_.error();
      return Event::kError;
    }
  }
  // After the head, llhttp must run even with no new bytes: a message without
  // a body completes without consuming any.
  if (parsed_ >= feed_end && !head_done_) return Event::kNeedMore;
  base_ = base;
  const char* from = base + parsed_;
  llhttp_errno_t err = llhttp_execute(&parser_, from, feed_end - parsed_);
  if (err == HPE_OK) {
    parsed_ = feed_end;
    return Event::kNeedMore;
  }
  if (err != HPE_PAUSED) {
    if (error_ == SecurityEvent::kNone) error_ = mapLlhttpError(err);
    return Event::kError;
  }
  parsed_ = static_cast<size_t>(llhttp_get_error_pos(&parser_) - base);
  llhttp_resume(&parser_);
  if (paused_for_message_) {
    paused_for_message_ = false;
    materializeHead();
    request_.body = std::string_view(base + msg_start_ + body_off_, body_len_);
    return Event::kMessageComplete;
  }
  return Event::kHeadersComplete;
}

int HttpParser::onHeadersComplete() {
  head_done_ = true;
  materializeHead();
  SecurityEvent e = checkFraming();
  if (e != SecurityEvent::kNone) return fail(e);
  body_off_ = static_cast<uint32_t>(scanner_.headEnd() - msg_start_);
  return HPE_PAUSED;
}

// Chunked bodies arrive with chunk-size lines between the data; we move each
// piece down so the body ends up contiguous right after the head (the bytes
// overwritten were already consumed by llhttp). Content-Length bodies are
// already contiguous and are never copied.
int HttpParser::onBody(const char* at, size_t len) {
  if (body_len_ + len > body_limit_) return fail(SecurityEvent::kBodyTooLarge);
  char* want = base_ + msg_start_ + body_off_ + body_len_;
  if (!body_started_) {
    body_started_ = true;
    body_off_ = static_cast<uint32_t>(static_cast<size_t>(at - base_) - msg_start_);
    want = base_ + msg_start_ + body_off_;
  }
  if (at != want) memmove(want, at, len);
  body_len_ += static_cast<uint32_t>(len);
  return 0;
}

void HttpParser::materializeHead() {
  const char* m = base_ + msg_start_;
  headers_.clear();
  for (const HeaderSpan& h : header_spans_) {
    headers_.push_back(Header{std::string_view(m + h.name.off, h.name.len),
                              trimOws(std::string_view(m + h.value.off, h.value.len))});
  }
  request_.headers = headers_;
  // Rebuilt with the other views: the buffer may have moved since the head.
  request_.request_id = request_.header("x-request-id");
  request_.target = std::string_view(m + url_.off, url_.len);
  request_.method = mapMethod(parser_.method);
  request_.method_text = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  request_.version_minor = parser_.http_minor;
  classifyTarget();
}

SecurityEvent HttpParser::classifyTarget() {
  std::string_view t = request_.target;
  if (t.find('#') != std::string_view::npos) return SecurityEvent::kBadTarget;
  if (t == "*") {
    request_.path = t;
    return request_.method == Method::kOptions ? SecurityEvent::kNone : SecurityEvent::kBadTarget;
  }
  if (t.empty()) return SecurityEvent::kBadTarget;
  if (t.front() != '/') {
    // absolute-form (RFC 9112 §3.2.2: servers MUST accept it): drop scheme and
    // authority, keep the path. Host-header agreement is not our concern here.
    size_t skip;
    if (startsWithLower(t, "http://")) {
      skip = 7;
    } else if (startsWithLower(t, "https://")) {
      skip = 8;
    } else {
      return SecurityEvent::kBadTarget;
    }
    size_t slash = t.find_first_of("/?", skip);
    if (slash == skip) return SecurityEvent::kBadTarget;  // empty authority
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    if (t.front() == '?') return SecurityEvent::kBadTarget;
  }
  size_t q = t.find('?');
  request_.path = t.substr(0, q);
  request_.query = q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
  return SecurityEvent::kNone;
}

namespace {
// Fields phigate interprets as one value: a second copy would leave it to
// chance (first or last?) which one a check sees and which one a later
// reader believes. List-valued fields (X-Forwarded-For, Connection) may repeat.
constexpr std::string_view kSingletons[] = {"content-type", "authorization", "x-timestamp",
                                            "x-nonce",      "x-signature",   "idempotency-key",
                                            "x-request-id", "expect"};

bool repeatsSingleton(std::string_view name, uint32_t* seen) {
  for (size_t i = 0; i < std::size(kSingletons); ++i) {
    if (!equalsLower(name, kSingletons[i])) continue;
    const uint32_t bit = 1u << i;
    if ((*seen & bit) != 0) return true;
    *seen |= bit;
    return false;
  }
  return false;
}
}  // namespace

// request-line = method SP request-target SP HTTP-version, with exactly one
// space each side of the target (RFC 9112 §3): llhttp skips extra spaces.
bool HttpParser::requestLineIsExact() const {
  const char* m = base_ + msg_start_;
  const size_t start = url_.off, end = url_.off + url_.len;
  if (start < 2 || m[start - 1] != ' ' || m[start - 2] == ' ') return false;
  return m[end] == ' ' && m[end + 1] != ' ';
}

// RFC 9112 §3 and §6 framing rules, stricter than llhttp's defaults.
SecurityEvent HttpParser::checkFraming() {
  if (request_.method == Method::kOther) return SecurityEvent::kMethodRefused;
  if (!requestLineIsExact()) return SecurityEvent::kBadRequestLine;
  int hosts = 0, lengths = 0, encodings = 0;
  uint32_t singletons = 0;
  for (const Header& h : headers_) {
    const std::string_view n = h.name;
    if (repeatsSingleton(n, &singletons)) return SecurityEvent::kDuplicateHeader;
    if (equalsLower(n, "host")) {
      if (++hosts == 1 && !isValidHostHeader(h.value)) return SecurityEvent::kBadHost;
    } else if (equalsLower(n, "content-length")) {
      if (++lengths > 1) return SecurityEvent::kDuplicateContentLength;
      if (!parseContentLength(h.value, &request_.content_length)) {
        return SecurityEvent::kBadContentLength;
      }
    } else if (equalsLower(n, "transfer-encoding")) {
      if (++encodings > 1 || !equalsLower(h.value, "chunked")) {
        return SecurityEvent::kBadTransferEncoding;
      }
      request_.chunked = true;
    } else if (equalsLower(n, "upgrade")) {
      return SecurityEvent::kUpgradeRefused;
    } else if (equalsLower(n, "expect")) {
      if (!equalsLower(h.value, "100-continue")) return SecurityEvent::kBadExpect;
      request_.expect_continue = true;
    }
  }
  if (lengths > 0 && encodings > 0) return SecurityEvent::kContentLengthWithChunked;
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing
  // (a 1.0 intermediary would not have understood it).
  if (encodings > 0 && request_.version_minor == 0) return SecurityEvent::kBadTransferEncoding;
  if (hosts > 1) return SecurityEvent::kDuplicateHost;
  if (hosts == 0 && request_.version_minor == 1) return SecurityEvent::kMissingHost;
  return classifyTarget();
}

SecurityEvent HttpParser::mapLlhttpError(llhttp_errno_t err) const {
  switch (err) {
    case HPE_INVALID_METHOD: return SecurityEvent::kMethodRefused;
    case HPE_INVALID_URL: return SecurityEvent::kBadTarget;
    case HPE_INVALID_VERSION: return SecurityEvent::kBadVersion;
    case HPE_INVALID_HEADER_TOKEN: return SecurityEvent::kBadHeaderName;
    case HPE_INVALID_CONTENT_LENGTH: return SecurityEvent::kBadContentLength;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      // llhttp uses this one code both for a second Content-Length and for
      // Content-Length beside Transfer-Encoding; its flags tell them apart.
      return (parser_.flags & F_TRANSFER_ENCODING) != 0 ? SecurityEvent::kContentLengthWithChunked
                                                        : SecurityEvent::kDuplicateContentLength;
    case HPE_INVALID_CHUNK_SIZE: return SecurityEvent::kBadChunk;
    case HPE_INVALID_TRANSFER_ENCODING: return SecurityEvent::kBadTransferEncoding;
    case HPE_UNEXPECTED_SPACE: return SecurityEvent::kBadRequestLine;
    case HPE_PAUSED_UPGRADE: return SecurityEvent::kUpgradeRefused;
    default: return SecurityEvent::kMalformed;
  }
}

}  // namespace phigate::net
