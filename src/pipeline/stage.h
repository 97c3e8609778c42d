// The security pipeline's one small interface. A stage looks at the request
// context and returns kContinue or kReject (with the problem to answer).
// Every stage decides synchronously from the request and the worker's
// immutable policy; the one asynchronous step, the state store's admit, is
// the handler's, after the pipeline (so it sees the whole request). Stages
// run in a fixed order (DESIGN §2): client-ip, ip-access, authn, ip-access for
// the key, rbac, replay headers, content type -- all at head time, before a
// byte of the body is buffered -- then, once the body is in, the signature and
// the schema. They never log and never allocate on the success path.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/hash.h"
#include "net/exchange.h"
#include "net/problem.h"
#include "obs/security_event.h"
#include "pipeline/body_schema.h"
#include "pipeline/cidr.h"
#include "pipeline/key_registry.h"
#include "pipeline/permissions.h"

namespace phigate::pipeline {

/** The replay headers of an admitted request. */
struct ReplayToken {
  int64_t timestamp = 0;
  std::string_view timestamp_text;  // as sent: the signature covers these bytes
  std::string_view nonce;
  crypto::Sha256 signature{};       // X-Signature, decoded (signing keys only)
};

/** Which body schema a route validates against. */
enum class BodyKind : uint8_t { kNone, kSms, kBulk, kEmail };

/** What a route needs from the pipeline; static, one per route. */
struct RoutePolicy {
  Permission permission = Permission::kNone;
  bool authenticated = false;
  bool state_changing = false;   // replay headers required; the nonce reaches the store
  BodyKind body = BodyKind::kNone;
  bool bypass = false;           // no stage at all (GET /livez: no I/O, no policy)
  std::string_view rate_class;   // rate-limit class ("sms", "health", ...); empty: none
  bool rate_per_ip = false;      // limit per client address instead of per key
  // The answer comes from an upstream (the eHospital pass-through): no
  // idempotency record is kept and no daily message quota is charged.
  bool upstream_answers = false;
};

/** Immutable policy, built once at start-up and shared by all workers. */
struct PolicyConfig {
  CidrList trusted_proxies;
  CidrList ip_allowlist;         // empty: everyone
  CidrList ip_denylist;
  KeyRegistry keys;
  uint32_t replay_window_s = 300;
  const PhoneRegion* phone_region = &defaultPhoneRegion();  // PHIGATE_DEFAULT_REGION
};

/** A stage's refusal: the problem to answer and the audit reason. */
struct Rejection {
  int status = 0;
  std::string_view type;         // slug under https://phigate.dev/problems/
  std::string_view title;
  std::string_view detail;
  obs::SecurityEvent event = obs::SecurityEvent::kNone;
  std::string_view reason;       // stable reason code for the audit line
  std::string_view code;         // the reason as told to the client (empty: not told)
  bool www_authenticate = false;
  bool counts_as_auth_failure = false;  // containment counts it (a token used from the wrong place)
  std::span<const FieldError> errors;  // validation errors, if any
  std::span<const net::ProblemMember> members;  // extension members (what to change)
  std::span<const net::HeaderField> headers;    // extra response headers (Retry-After)
};

/** A stage's decision. */
enum class Verdict : uint8_t { kContinue, kReject };

/** Everything the stages learn about one request. */
struct RequestContext {
  net::Exchange* ex = nullptr;
  const RoutePolicy* policy = nullptr;
  ClientIp client{};
  char client_text[kIpTextCapacity] = {};
  const ApiKey* key = nullptr;
  ReplayToken replay;
  SmsMessage sms;
  std::span<const SmsMessage> bulk;
  EmailMessage email;
  Rejection rejection;
  // Storage for a rejection's dynamic parts (numbers phigate chose, never
  // client bytes): its detail, extension members and header values.
  char detail_text[192] = {};
  std::array<net::ProblemMember, 3> members{};
  std::array<net::HeaderField, 1> headers{};
  char header_text[24] = {};

  const net::HttpRequest& request() const { return ex->request(); }
  Verdict reject(const Rejection& r);
};

/** One step of the pipeline. */
class Stage {
 public:
  virtual ~Stage() = default;
  virtual Verdict run(RequestContext& ctx) = 0;
};

inline Verdict RequestContext::reject(const Rejection& r) {
  rejection = r;
  return Verdict::kReject;
}

}  // namespace phigate::pipeline
