#include "mock/mock_app.h"

#include <simdjson.h>

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

enum class Route { kCdac, kJson, kReceived, kLivez };

// Static storage: Exchange::route holds a pointer to the route entry.
constexpr Route kRouteCdac = Route::kCdac;
constexpr Route kRouteJson = Route::kJson;
constexpr Route kRouteReceived = Route::kReceived;
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

bool tokenMatches(std::string_view got, const std::string& want) {
  return !want.empty() && got.size() == want.size() &&
         crypto::constantTimeEqual(got.data(), want.data(), got.size());
}

}  // namespace

// An answer waiting for --latency-ms; owned by its timer (freed on close).
struct MockApp::Pending {
  uv_timer_t timer;
  net::Exchange* ex;
  int status;
  std::string_view type;
  std::string body;
  bool aborted = false;  // the connection closed first: the exchange is gone
};

void MockApp::onHead(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  if (req.method == net::Method::kPost && req.path == "/esms/sendsmsrequestDLT") {
    ex.route = &kRouteCdac, ex.route_name = "cdac_send", ex.body_limit = kFormBodyLimit;
  } else if (req.method == net::Method::kPost && req.path == "/v1/messages") {
    ex.route = &kRouteJson, ex.route_name = "http_send", ex.body_limit = kJsonBodyLimit;
  } else if (req.method == net::Method::kGet && req.path == "/_mock/received") {
    ex.route = &kRouteReceived, ex.route_name = "mock_received";
  } else if (req.method == net::Method::kGet && req.path == "/livez") {
    ex.route = &kRouteLivez, ex.route_name = "livez";
  } else {
    ex.respond(404, net::kJsonType, "{\"error\":\"not found\"}");
  }
}

void MockApp::onRequest(net::Exchange& ex) {
  switch (*static_cast<const Route*>(ex.route)) {
    case Route::kCdac: return handleCdac(ex);
    case Route::kJson: return handleJson(ex);
    case Route::kReceived: return handleReceived(ex);
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

bool MockApp::takeFailure() {
  if (opts_.fail_next == 0) return false;
  --opts_.fail_next;
  return true;
}

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
  if (takeFailure()) return answer(ex, 200, net::kTextType, cdacError(opts_.fail_code));
  const std::string id = freshId("mock");
  for (const std::string& to : check.recipients) {
    recorder_.record({.protocol = "cdac", .id = id, .to = to, .service = check.service_type,
                      .content = *check.content});
  }
  answer(ex, 200, net::kTextType, "402,MsgID = " + id);
}

void MockApp::handleJson(net::Exchange& ex) {
  if (!tokenMatches(bearerToken(ex.request()), opts_.http_token)) {
    return answer(ex, 401, net::kJsonType, "{\"error\":\"unauthorized\"}");
  }
  simdjson::dom::parser parser;
  const simdjson::padded_string body(ex.request().body);
  simdjson::dom::element doc;
  std::string_view id, to, text;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || doc["id"].get(id) != simdjson::SUCCESS ||
      doc["to"].get(to) != simdjson::SUCCESS || doc["text"].get(text) != simdjson::SUCCESS ||
      !safeId(id) || !validIndianMobile(to.starts_with('+') ? to.substr(1) : to)) {
    return answer(ex, 400, net::kJsonType, "{\"error\":\"invalid request\"}");
  }
  if (auto it = seen_.find(std::string(id)); it != seen_.end()) {
    return answer(ex, 202, net::kJsonType, "{\"provider_message_id\":\"" + it->second + "\"}");
  }
  if (takeFailure()) return answer(ex, 503, net::kJsonType, "{\"error\":\"temporarily unavailable\"}");
  const std::string pid = freshId("pm-");
  seen_.emplace(std::string(id), pid);
  recorder_.record({.protocol = "http", .id = id, .to = to, .service = "", .content = text});
  answer(ex, 202, net::kJsonType, "{\"provider_message_id\":\"" + pid + "\"}");
}

void MockApp::handleReceived(net::Exchange& ex) {
  answer(ex, 200, net::kJsonType, "{\"count\":" + std::to_string(recorder_.count()) + "}");
}

void MockApp::answer(net::Exchange& ex, int status, std::string_view type, std::string body) {
  if (opts_.latency_ms == 0 || loop_ == nullptr) return ex.respond(status, type, body);
  auto* p = new Pending{.timer = {}, .ex = &ex, .status = status, .type = type, .body = std::move(body)};
  uv_timer_init(loop_, &p->timer);
  p->timer.data = p;
  ex.app_data = p;
  uv_timer_start(&p->timer, onLatencyTimer, opts_.latency_ms, 0);
}

void MockApp::onLatencyTimer(uv_timer_t* t) {
  auto* p = static_cast<Pending*>(t->data);
  if (!p->aborted) p->ex->respond(p->status, p->type, p->body);
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete static_cast<Pending*>(h->data); });
}

}  // namespace phigate::mock
