// Delivery as a worker runs it: built once from the configuration before
// the fork (the SMS adapter and the email sender hold credentials, no
// sockets), started on each worker's loop after it (one HTTP client, an SMS
// consumer and an email consumer), drained when the worker stops.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "crypto/key_ring.h"
#include "delivery/callbacks.h"
#include "delivery/consumer.h"
#include "delivery/email_sender.h"
#include "delivery/sms_adapter.h"
#include "net/http_client.h"
#include "state/outbox.h"

namespace phigate::delivery {

struct DeliverySetup {
  bool enabled = true;
  DeliveryOptions options;        // SMS
  DeliveryOptions email_options;  // email
  std::shared_ptr<const SmsAdapter> adapter;   // null: simulated (SMS_PROVIDER=mock)
  std::shared_ptr<const EmailSender> mailer;   // null: simulated (no SMTP_URL)
  bool email = true;                           // false: SMTP_URL=off, no email consumer
  net::HttpClientOptions http;
  std::vector<std::string> key_ids;
  CallbackSetup callbacks;  // status callbacks (makeCallbackSetup): their own dispatcher
};

/**
 * The setup the configuration asks for; false with `error` (names only)
 * when it cannot work. `workers` shares the host's provider rate out.
 */
bool makeDeliverySetup(const config::Config& cfg, std::vector<std::string> key_ids, int workers,
                       DeliverySetup* out, std::string* error);

class DeliveryService {
 public:
  explicit DeliveryService(DeliverySetup setup) : setup_(std::move(setup)) {}
  ~DeliveryService();

  /** `callbacks`: the store's callback queue (nullptr: none). */
  void start(uv_loop_t* loop, state::Outbox& outbox, const crypto::KeyRing& ring,
             state::CallbackQueue* callbacks = nullptr);
  /** Finishes what is in flight (at most `deadline_ms`), then `done(ctx)`. */
  void stop(uint32_t deadline_ms, void* ctx, void (*done)(void*));

  const Consumer* consumer() const { return consumer_.get(); }
  const CallbackDispatcher* callbacks() const { return callbacks_.get(); }
  const Consumer* emailConsumer() const { return email_consumer_.get(); }
  bool enabled() const { return setup_.enabled; }

 private:
  static void onDrained(void* self);

  DeliverySetup setup_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<Consumer> consumer_;
  std::unique_ptr<CallbackDispatcher> callbacks_;  // separate from the consumer (never blocks it)
  std::unique_ptr<Consumer> email_consumer_;
  int draining_ = 0;  // consumers not yet drained
  void* stop_ctx_ = nullptr;
  void (*stop_done_)(void*) = nullptr;
};

}  // namespace phigate::delivery
