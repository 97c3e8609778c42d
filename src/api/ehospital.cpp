#include "api/ehospital.h"

#include <algorithm>
#include <cstdio>

#include "api/admission.h"
#include "api/problems.h"
#include "net/problem.h"
#include "net/worker.h"
#include "upstream/ehospital_proxy.h"

namespace phigate::api {

namespace {

using upstream::ProxyFailure;
using upstream::ProxyOutcome;

constexpr std::string_view kPrefix = "/v1/ehospital";

// The upstream path: the route's rest parameter with its leading '/' (a
// view into the request path, which the parameter is a suffix of).
std::string_view upstreamPath(const net::HttpRequest& req) { return req.path.substr(kPrefix.size()); }

void respondFailure(CallState& st, const ProxyOutcome& o) {
  net::Exchange& ex = *st.ctx.ex;
  const auto bad_gateway = [&](std::string_view code, std::string_view detail) {
    Buffer& body = ex.worker().scratch();
    body.clear();
    net::writeProblem(body,
                      net::Problem{.status = 502,
                                   .type = "ehospital-bad-gateway",
                                   .title = "Bad Gateway",
                                   .detail = detail,
                                   .code = code},
                      ex.ensureRequestId());
    ex.respond(502, net::kProblemType, body.view(), st.headers());
  };
  switch (o.failure) {
    case ProxyFailure::kNone: break;
    case ProxyFailure::kBusy:
      st.addHeader("Retry-After", "1");
      return respondProblem(ex, 503, "ehospital-busy", "Service Unavailable",
                            "This worker has EHOSPITAL_CONCURRENCY calls to the eHospital upstream in "
                            "flight already; nothing was sent. Retry shortly.",
                            st.headers());
    case ProxyFailure::kKeyBusy:
      st.addHeader("Retry-After", "1");
      return respondProblem(ex, 503, "ehospital-busy", "Service Unavailable",
                            "Your key has half of this worker's EHOSPITAL_CONCURRENCY calls to the "
                            "eHospital upstream in flight already (the most one key may hold); "
                            "nothing was sent. Retry when one of your calls has ended.",
                            st.headers());
    case ProxyFailure::kCircuitOpen:
    case ProxyFailure::kCancelled:
      snprintf(st.retry_after_value, sizeof st.retry_after_value, "%u",
               o.retry_after_s == 0 ? 1u : o.retry_after_s);
      st.addHeader("Retry-After", st.retry_after_value);
      return respondProblem(ex, 503, "ehospital-unavailable", "Service Unavailable",
                            o.failure == ProxyFailure::kCancelled
                                ? "phigate is shutting down; retry on another instance."
                                : "The eHospital upstream failed repeatedly, so phigate is not calling "
                                  "it for a while (EHOSPITAL_CIRCUIT_OPEN_S); nothing was sent. Retry "
                                  "after Retry-After seconds.",
                            st.headers());
    case ProxyFailure::kNoCredential:
      return bad_gateway("credential_unavailable",
                         "phigate could not obtain its eHospital session token from "
                         "EHOSPITAL_TOKEN_URL, so nothing was sent upstream. The operator should "
                         "check the token endpoint and EHOSPITAL_CLIENT_ID / EHOSPITAL_CLIENT_SECRET.");
    case ProxyFailure::kUpstreamAuth:
      return bad_gateway("upstream_refused_credential",
                         "The eHospital upstream refused phigate's own credential (401, also after "
                         "a token refresh); your key is fine. The operator should check "
                         "EHOSPITAL_TOKEN or the OAuth2 client.");
    case ProxyFailure::kConnect:
      return bad_gateway("connect", "phigate could not connect to the eHospital upstream.");
    case ProxyFailure::kTls:
      return bad_gateway("tls",
                         "The TLS handshake with the eHospital upstream failed (its certificate "
                         "did not verify, or no common protocol).");
    case ProxyFailure::kTooLarge:
      return bad_gateway("too_large",
                         "The eHospital upstream's answer exceeded EHOSPITAL_MAX_RESPONSE_BYTES and "
                         "was discarded; ask for less (a narrower query or a page).");
    case ProxyFailure::kMalformed:
      return bad_gateway("malformed", "The eHospital upstream's answer was not a valid HTTP response.");
    case ProxyFailure::kUpstreamError: {
      Buffer& body = ex.worker().scratch();
      body.clear();
      const net::ProblemMember members[] = {net::ProblemMember::num("upstream_status", o.status)};
      net::writeProblem(body,
                        net::Problem{.status = 502,
                                     .type = "ehospital-bad-gateway",
                                     .title = "Bad Gateway",
                                     .detail = "The eHospital upstream answered with a server error "
                                               "(`upstream_status`); its body is not passed on.",
                                     .code = "upstream_error",
                                     .members = members},
                        ex.ensureRequestId());
      ex.respond(502, net::kProblemType, body.view(), st.headers());
      return;
    }
    case ProxyFailure::kTimeout:
      return respondProblem(ex, 504, "ehospital-timeout", "Gateway Timeout",
                            "The eHospital upstream did not answer within EHOSPITAL_TIMEOUT_MS (or "
                            "EHOSPITAL_CONNECT_TIMEOUT_MS); it may or may not have acted on the "
                            "request.",
                            st.headers());
  }
}

void onProxied(void* p, const ProxyOutcome& o) {
  auto& st = *static_cast<CallState*>(p);
  st.in_call = false;
  if (st.aborted) return finishAborted(st);
  if (o.failure != ProxyFailure::kNone) return respondFailure(st, o);
  // The rate headers, then the upstream's allow-listed ones.
  std::array<net::HeaderField, 4 + upstream::kMaxReturnedHeaders> fields{};
  size_t n = 0;
  for (const net::HeaderField& h : st.headers()) fields[n++] = h;
  for (const net::HeaderField& h : o.headers) fields[n++] = h;
  const std::string_view type = o.content_type.empty() ? "application/octet-stream" : o.content_type;
  st.ctx.ex->respond(o.status, type, o.body, std::span<const net::HeaderField>(fields.data(), n));
}

void admitted(CallState& st, const state::AdmitResult&) {
  const net::HttpRequest& req = st.ctx.request();
  upstream::ProxyRequest pr{.method = req.method,
                            .path = upstreamPath(req),
                            .query = req.query,
                            .headers = req.headers,
                            .body = req.body,
                            .request_id = st.ctx.ex->ensureRequestId(),
                            .key_id = st.ctx.key != nullptr ? std::string_view(st.ctx.key->id)
                                                            : std::string_view(),
                            .gone = &st.aborted};
  st.in_call = true;  // until onProxied: an aborted call keeps its state
  st.services->ehospital->forward(pr, onProxied, &st);
}

}  // namespace

bool checkEhospitalHead(Services& services, net::Exchange& ex,
                        std::span<const std::string_view>, pipeline::Rejection* out) {
  *out = pipeline::Rejection{};
  out->status = 404;
  if (services.ehospital == nullptr) {
    out->type = "ehospital-not-configured";
    out->title = "Not Found";
    out->detail = "The eHospital pass-through is not configured on this server (EHOSPITAL_BASE_URL "
                  "is not set); ask its operator.";
    return false;
  }
  const net::HttpRequest& req = ex.request();
  const std::string_view path = upstreamPath(req);
  if (!upstream::requestPathOk(path) || !services.ehospital->allows(req.method, path)) {
    out->type = "ehospital-path-not-allowed";
    out->title = "Not Found";
    out->detail = "This method and path are not on the eHospital allow-list "
                  "(EHOSPITAL_ALLOWED_PATHS); nothing was sent upstream. Paths must be plain "
                  "segments: no `.`, `..`, empty segments or percent-encoding.";
    return false;
  }
  if (!upstream::requestQueryOk(req.query)) {
    out->status = 400;
    out->type = "ehospital-bad-query";
    out->title = "Bad Request";
    out->detail = "The query string goes to the eHospital upstream as sent, so it must be printable "
                  "ASCII: percent-encode other bytes (UTF-8 as %XX); nothing was sent upstream.";
    return false;
  }
  ex.body_limit = std::min<uint64_t>(ex.body_limit, services.ehospital->maxRequestBytes());
  return true;
}

void handleEhospital(Call& call) {
  if (call.services.ehospital == nullptr) return respondNotFound(call.ex());  // checked at head time
  state::AdmitRequest req;
  admitCall(call, req, admitted);
}

}  // namespace phigate::api
