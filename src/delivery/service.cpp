#include "delivery/service.h"

#include <algorithm>

#include "delivery/cdac_adapter.h"
#include "delivery/http_adapter.h"

namespace phigate::delivery {

bool makeDeliverySetup(const config::Config& cfg, std::vector<std::string> key_ids, int workers,
                       DeliverySetup* out, std::string* error) {
  const config::DeliveryPolicy& d = cfg.delivery;
  out->enabled = d.enabled;
  out->key_ids = std::move(key_ids);
  DeliveryOptions& o = out->options;
  o.otp_ttl_s = d.otp_ttl_s;
  o.deadline_s = d.deadline_s;
  o.retry_min_ms = d.retry_min_ms;
  o.retry_max_ms = d.retry_max_ms;
  o.visibility_ms = d.visibility_s * 1000;
  o.timeouts = net::HttpTimeouts{d.connect_timeout_ms, d.timeout_ms};
  o.gate.concurrency = d.concurrency;
  // The account's TPS is the host's: each worker gets its share (at least 1).
  o.gate.rate_per_s = d.rate_per_s == 0 ? 0 : std::max<uint32_t>(1, d.rate_per_s / std::max(workers, 1));
  o.gate.failures = d.circuit_failures;
  o.gate.open_ms = d.circuit_open_s * 1000;
  out->http.allow_plain_http = !cfg.production();
  out->http.ca_file = d.outbound_ca_file;
  out->http.proxy = d.outbound_proxy;
  o.report_delay_ms = d.report_delay_ms;
  out->http.max_host_connections = static_cast<long>(std::max(d.concurrency, d.smtp_concurrency));
  // Email: its own lane, gate and caps; the SMS consumer does the per-key upkeep.
  DeliveryOptions& e = out->email_options;
  e = o;
  e.channel = Channel::kEmail;
  e.upkeep = false;
  e.poll_ms = 50;  // an idle outbox is asked less often than SMS's (OTPs)
  e.gate.concurrency = d.smtp_concurrency;
  e.gate.rate_per_s =
      d.smtp_rate_per_s == 0 ? 0 : std::max<uint32_t>(1, d.smtp_rate_per_s / std::max(workers, 1));
  out->email = !cfg.emailOff();
  if (d.smtp_url.empty() || !out->email) {
    out->mailer = nullptr;
  } else {
    SmtpOptions m;
    m.url = d.smtp_url;
    m.username = d.smtp_username;
    m.password = d.smtp_password;
    m.from = d.smtp_from;
    m.reply_to = d.smtp_reply_to;
    m.require_tls = d.smtp_tls;
    if (!EmailSender::validAddress(m.from)) {
      *error = "SMTP_FROM must be one plain address (local@domain), required with SMTP_URL";
      return false;
    }
    if (!m.reply_to.empty() && !EmailSender::validAddress(m.reply_to)) {
      *error = "SMTP_REPLY_TO must be one plain address (local@domain)";
      return false;
    }
    out->mailer = std::make_shared<EmailSender>(std::move(m));
  }
  switch (d.provider) {
    case config::SmsProviderKind::kMock:
      out->adapter = nullptr;
      return true;
    case config::SmsProviderKind::kCdac: {
      CdacOptions c;
      c.url = d.cdac_url;
      c.username = d.cdac_username;
      c.password = d.cdac_password;
      c.sender_id = d.cdac_sender_id;
      c.secure_key = d.cdac_secure_key;
      c.report_url = d.cdac_report_url == "off" ? std::string() : d.cdac_report_url;
      out->adapter = std::make_shared<CdacAdapter>(c);
      return true;
    }
    case config::SmsProviderKind::kHttp: {
      HttpOptions h;
      h.url = d.http_url;
      h.token = d.http_token;
      out->adapter = std::make_shared<HttpAdapter>(h);
      return true;
    }
  }
  *error = "SMS_PROVIDER: unknown provider";
  return false;
}

DeliveryService::~DeliveryService() = default;

void DeliveryService::start(uv_loop_t* loop, state::Outbox& outbox, const crypto::KeyRing& ring,
                            state::CallbackQueue* callbacks) {
  if (callbacks != nullptr && !setup_.callbacks.targets.empty() && !callbacks_) {
    callbacks_ = std::make_unique<CallbackDispatcher>(loop, *callbacks, setup_.callbacks);
    callbacks_->start();
  }
  if (!setup_.enabled || consumer_) return;
  if (setup_.adapter || setup_.mailer) http_ = std::make_unique<net::HttpClient>(loop, setup_.http);
  consumer_ = std::make_unique<Consumer>(loop, outbox, ring, setup_.key_ids, setup_.options,
                                         setup_.adapter.get(), nullptr, http_.get());
  consumer_->start();
  // SMTP_URL=off: no email consumer (what an earlier run accepted waits,
  // queued, rather than be simulated as delivered).
  if (setup_.email) {
    email_consumer_ = std::make_unique<Consumer>(loop, outbox, ring, setup_.key_ids, setup_.email_options,
                                                 nullptr, setup_.mailer.get(), http_.get());
    email_consumer_->start();
  }
}

void DeliveryService::stop(uint32_t deadline_ms, void* ctx, void (*done)(void*)) {
  // Callbacks in flight are cancelled and stay queued (at-least-once): the
  // next worker to read the queue sends them.
  if (callbacks_) callbacks_->stop();
  if (!consumer_) {
    done(ctx);
    return;
  }
  stop_ctx_ = ctx;
  stop_done_ = done;
  draining_ = email_consumer_ ? 2 : 1;
  consumer_->drain(deadline_ms, this, onDrained);
  if (email_consumer_) email_consumer_->drain(deadline_ms, this, onDrained);
}

// Both drained: the HTTP client goes now, while the loop still runs to
// close its handles (what is still in flight is cancelled: docs/DELIVERY.md).
void DeliveryService::onDrained(void* p) {
  auto* self = static_cast<DeliveryService*>(p);
  if (--self->draining_ > 0) return;
  self->http_.reset();
  if (self->stop_done_ != nullptr) self->stop_done_(self->stop_ctx_);
}

}  // namespace phigate::delivery
