#include "mock/mock_app.h"

#include <simdjson.h>

#include <cstring>
#include <memory>

#include "common/ascii.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "net/response.h"
#include "net/worker.h"

namespace phigate::mock {

namespace {

constexpr uint64_t kFormBodyLimit = 64 * 1024;  // a CDAC bulk form of 1000 numbers fits
constexpr uint64_t kJsonBodyLimit = 64 * 1024;
constexpr uint64_t kControlBodyLimit = 4 * 1024;

enum class Route { kCdac, kReport, kJson, kReceived, kControl, kControlGet, kLivez };

// Static storage: Exchange::route holds a pointer to the route entry.
constexpr Route kRouteCdac = Route::kCdac;
constexpr Route kRouteReport = Route::kReport;
constexpr Route kRouteJson = Route::kJson;
constexpr Route kRouteReceived = Route::kReceived;
constexpr Route kRouteControl = Route::kControl;
constexpr Route kRouteControlGet = Route::kControlGet;
constexpr Route kRouteLivez = Route::kLivez;

// Our message ids as phigate makes them; anything else is refused so the
// record file (JSON lines) only ever holds safe characters.
bool safeId(std::string_view id) { return isIdentifier(id, 64); }

std::string_view bearerToken(const net::HttpRequest& req) {
  constexpr std::string_view kPrefix = "Bearer ";
  const std::string_view auth = req.header("authorization");
  if (auth.size() <= kPrefix.size() || auth.substr(0, kPrefix.size()) != kPrefix) return {};
  return auth.substr(kPrefix.size());
}

bool secretMatches(std::string_view got, const std::string& want) {
  return !want.empty() && got.size() == want.size() &&
         crypto::constantTimeEqual(got.data(), want.data(), got.size());
}

// The control route changes how every client is answered: loopback peers only.
bool loopbackPeer(const unsigned char (&b)[16]) {
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr unsigned char kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (memcmp(b, kMapped, 12) == 0 && b[12] == 127) || memcmp(b, kV6Loopback, 16) == 0;
}

}  // namespace

// An answer waiting for the latency; owned by its timer (freed on close).
struct MockApp::Pending {
  uv_timer_t timer;
  net::Exchange* ex;
  int status;
  std::string_view type;
  std::string body;
  bool drop = false;     // reset the connection instead of answering
  bool aborted = false;  // the connection closed first: the exchange is gone
};

MockApp::MockApp(MockOptions opts, Recorder& recorder)
    : opts_(std::move(opts)), b_(opts_.behaviour), recorder_(recorder) {
  rng_.seed(opts_.seeded ? opts_.seed : (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                            std::random_device{}());
}

void MockApp::onHead(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  const bool get = req.method == net::Method::kGet;
  const bool post = req.method == net::Method::kPost;
  if (post && req.path == "/esms/sendsmsrequestDLT") {
    ex.route = &kRouteCdac, ex.route_name = "cdac_send", ex.body_limit = kFormBodyLimit;
  } else if (get && req.path == "/XMLForReportG/reportXMLNew") {
    ex.route = &kRouteReport, ex.route_name = "cdac_report";
  } else if (post && req.path == "/v1/messages") {
    ex.route = &kRouteJson, ex.route_name = "http_send", ex.body_limit = kJsonBodyLimit;
  } else if (get && req.path == "/_mock/received") {
    ex.route = &kRouteReceived, ex.route_name = "mock_received";
  } else if ((post || get) && req.path == "/_mock/control") {
    if (!loopbackPeer(ex.peerBytes())) return ex.respond(403, net::kJsonType, "{\"error\":\"loopback only\"}");
    ex.route = post ? &kRouteControl : &kRouteControlGet, ex.route_name = "mock_control";
    ex.body_limit = kControlBodyLimit;
  } else if (get && req.path == "/livez") {
    ex.route = &kRouteLivez, ex.route_name = "livez";
  } else {
    ex.respond(404, net::kJsonType, "{\"error\":\"not found\"}");
  }
}

void MockApp::onRequest(net::Exchange& ex) {
  switch (*static_cast<const Route*>(ex.route)) {
    case Route::kCdac: return handleCdac(ex);
    case Route::kReport: return handleReport(ex);
    case Route::kJson: return handleJson(ex);
    case Route::kReceived: return handleReceived(ex);
    case Route::kControl: return handleControl(ex);
    case Route::kControlGet: return ex.respond(200, net::kJsonType, behaviourJson(b_));
    case Route::kLivez: return ex.respond(200, net::kJsonType, "{\"status\":\"ok\"}");
  }
}

void MockApp::onDone(net::Exchange& ex) {
  if (ex.app_data == nullptr) return;
  // Answered by the timer, or abandoned by a closed connection: either way
  // the timer must not touch the exchange again.
  static_cast<Pending*>(ex.app_data)->aborted = true;
  ex.app_data = nullptr;
}

void MockApp::onStart(net::Worker& worker) { loop_ = worker.loop(); }

MockApp::Injected MockApp::takeInjected() {
  if (b_.permanent_next > 0) {
    --b_.permanent_next;
    return Injected::kPermanent;
  }
  if (b_.fail_next > 0) {
    --b_.fail_next;
    return Injected::kTemporary;
  }
  return chance(b_.error_rate) ? Injected::kTemporary : Injected::kNone;
}

bool MockApp::chance(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

uint64_t MockApp::nowMs() const { return loop_ != nullptr ? uv_now(loop_) : 0; }

std::string MockApp::freshId(std::string_view prefix) {
  // A counter keeps ids unique within a run; random hex across runs.
  return std::string(prefix) + std::to_string(next_id_++) + crypto::randomHex(6);
}

// CDAC answers every outcome with HTTP 200; the body carries the code.
void MockApp::handleCdac(net::Exchange& ex) {
  Form form;
  if (!parseForm(ex.request().body, &form)) return answer(ex, 200, net::kTextType, cdacError(404));
  const CdacCheck check = checkCdacRequest(form, opts_.cdac);
  if (check.code != 402) return answer(ex, 200, net::kTextType, cdacError(check.code));
  switch (takeInjected()) {
    case Injected::kPermanent: return answer(ex, 200, net::kTextType, cdacError(b_.permanent_code));
    case Injected::kTemporary: return answer(ex, 200, net::kTextType, cdacError(b_.fail_code));
    case Injected::kNone: break;
  }
  const std::string id = freshId("mock");
  std::vector<DeliveryBook::Recipient> outcome;
  for (const std::string& to : check.recipients) {
    recorder_.record({.protocol = "cdac", .id = id, .to = to, .service = check.service_type,
                      .content = *check.content});
    const std::string_view national = nationalMobile(to);
    const bool delivered = national != kUndeliveredNumber && !chance(b_.undelivered_rate);
    outcome.push_back({std::string(national), delivered});
  }
  book_.accept(id, std::move(outcome), nowMs() + b_.report_delay_ms);
  answer(ex, 200, net::kTextType, "402,MsgID = " + id, chance(b_.drop_rate));
}

// GET reportXMLNew?userid=..&password=..&msgid=..: the password in clear, as
// CDAC's report API takes it.
void MockApp::handleReport(net::Exchange& ex) {
  Form q;
  if (!parseForm(ex.request().query, &q)) return answer(ex, 200, net::kTextType, cdacError(404));
  const std::string* user = q.find("userid");
  const std::string* password = q.find("password");
  const std::string* msgid = q.find("msgid");
  if (user == nullptr || password == nullptr || msgid == nullptr || !safeId(*msgid)) {
    return answer(ex, 200, net::kTextType, cdacError(404));
  }
  if (*user != opts_.cdac.username || !secretMatches(*password, opts_.cdac.password)) {
    return answer(ex, 200, net::kTextType, cdacError(401));
  }
  answer(ex, 200, "application/xml", book_.reportXml(opts_.cdac.username, *msgid, nowMs()));
}

void MockApp::handleJson(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  if (!secretMatches(bearerToken(req), opts_.http_token)) {
    return answer(ex, 401, net::kJsonType, "{\"error\":\"unauthorized\"}");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view id, to, text, type;
  if (parser.parse(req.body.data(), req.body.size()).get(doc) != simdjson::SUCCESS ||
      doc["id"].get(id) != simdjson::SUCCESS || doc["to"].get(to) != simdjson::SUCCESS ||
      doc["text"].get(text) != simdjson::SUCCESS || !safeId(id) ||
      !validIndianMobile(to.starts_with('+') ? to.substr(1) : to)) {
    return answer(ex, 400, net::kJsonType, "{\"error\":\"invalid request\"}");
  }
  // "type" is optional; when present it is one of the three lanes.
  if (auto t = doc["type"]; t.error() != simdjson::NO_SUCH_FIELD &&
      (t.get(type) != simdjson::SUCCESS ||
       (type != "otp" && type != "transactional" && type != "bulk"))) {
    return answer(ex, 400, net::kJsonType, "{\"error\":\"invalid request\"}");
  }
  // The Idempotency-Key, when sent, must name the same message as the body.
  const std::string_view key = req.header("idempotency-key");
  if (!key.empty() && key != id) return answer(ex, 400, net::kJsonType, "{\"error\":\"idempotency key\"}");

  const RecordEntry entry{.protocol = "http", .id = id, .to = to, .service = type, .content = text};
  if (auto it = seen_.find(std::string(id)); it != seen_.end()) {
    RecordEntry dup = entry;
    dup.duplicate = true;
    recorder_.record(dup);
    return answer(ex, 202, net::kJsonType, "{\"provider_message_id\":\"" + it->second + "\"}",
                  chance(b_.drop_rate));
  }
  switch (takeInjected()) {
    case Injected::kPermanent: return answer(ex, 422, net::kJsonType, "{\"error\":\"rejected\"}");
    case Injected::kTemporary:
      return answer(ex, 503, net::kJsonType, "{\"error\":\"temporarily unavailable\"}");
    case Injected::kNone: break;
  }
  const std::string pid = freshId("pm-");
  seen_.emplace(std::string(id), pid);
  recorder_.record(entry);
  answer(ex, 202, net::kJsonType, "{\"provider_message_id\":\"" + pid + "\"}", chance(b_.drop_rate));
}

void MockApp::handleReceived(net::Exchange& ex) {
  answer(ex, 200, net::kJsonType,
         "{\"count\":" + std::to_string(recorder_.count()) +
             ",\"cdac\":" + std::to_string(recorder_.cdacCount()) +
             ",\"http\":" + std::to_string(recorder_.httpCount()) +
             ",\"duplicates\":" + std::to_string(recorder_.duplicates()) + "}");
}

// Answered at once (no latency): a test's control calls should not wait on
// the latency they are changing.
void MockApp::handleControl(net::Exchange& ex) {
  if (!applyControl(ex.request().body, &b_)) {
    return ex.respond(400, net::kJsonType, "{\"error\":\"invalid control\"}");
  }
  ex.respond(200, net::kJsonType, behaviourJson(b_));
}

void MockApp::answer(net::Exchange& ex, int status, std::string_view type, std::string body, bool drop) {
  if (b_.latency_ms == 0 || loop_ == nullptr) {
    if (drop) return ex.abortConnection();
    return ex.respond(status, type, body);
  }
  auto* p = new Pending{.timer = {}, .ex = &ex, .status = status, .type = type, .body = std::move(body),
                        .drop = drop};
  uv_timer_init(loop_, &p->timer);
  p->timer.data = p;
  ex.app_data = p;
  uv_timer_start(&p->timer, onLatencyTimer, b_.latency_ms, 0);
}

void MockApp::onLatencyTimer(uv_timer_t* t) {
  auto* p = static_cast<Pending*>(t->data);
  if (!p->aborted && p->drop) {
    p->ex->abortConnection();  // onDone marks p aborted
  } else if (!p->aborted) {
    p->ex->respond(p->status, p->type, p->body);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete static_cast<Pending*>(h->data); });
}

}  // namespace phigate::mock
