// Status callbacks (docs/CALLBACKS.md), the sending side: per worker, on its
// loop, next to (never inside) the delivery consumer. Reads the queued
// callbacks of the keys that have a status_callback_url from the store
// (state/callback_queue.h), POSTs each, signed, with an HTTP client of its
// own (its own connections, concurrency cap and address policy, so a slow
// or dead receiver never holds up a provider call), acknowledges a 2xx, and
// schedules a retry with jittered exponential backoff otherwise; after
// max_tries it drops the callback with an event line (key id, reason,
// counts: never the URL, the body or the secret).
//
// SSRF: the client's address policy refuses loopback, private, link-local,
// CGNAT, multicast, unspecified, reserved and metadata addresses (and their
// IPv4-mapped / NAT64 forms) unless CALLBACK_ALLOWED_CIDRS lists them. It
// runs on the address curl is about to connect to, after phigate's own
// lookup pinned it, so no second lookup (DNS rebinding) can slip past. No
// proxy (the check must see the receiver's address), no redirects, the
// response body read up to a small cap and ignored. A refused address drops
// the callback at once (counted): retrying cannot make it allowed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/buffer.h"
#include "config/config.h"
#include "net/http_client.h"
#include "pipeline/cidr.h"
#include "pipeline/key_registry.h"
#include "state/callback_queue.h"

namespace phigate::delivery {

/** One key's receiver. */
struct CallbackTarget {
  CallbackTarget() = default;
  CallbackTarget(const CallbackTarget&) = default;
  CallbackTarget& operator=(const CallbackTarget&) = default;
  CallbackTarget(CallbackTarget&&) = default;
  CallbackTarget& operator=(CallbackTarget&&) = default;
  ~CallbackTarget();  // wipes the secret and the URL (it may carry a token)

  std::string key_id;
  std::string url;                // never logged
  std::vector<uint8_t> secret;
};

struct CallbackOptions {
  uint32_t concurrency = 16;          // callbacks in flight per worker, in all
  uint32_t per_key_in_flight = 4;     // ... per key (a quarter: slow receivers cannot take them all)
  uint32_t max_tries = 8;             // deliveries tried before a callback is dropped
  uint32_t retry_min_ms = 30'000;     // first retry delay; doubles per try (+ up to 50 % jitter)
  uint32_t retry_max_ms = 1'800'000;  // ... up to this
  uint32_t poll_ms = 100;             // how often the queue is read when idle
  uint32_t promote_ms = 1'000;        // how often due retries are moved back
  uint32_t reclaim_idle_ms = 120'000; // a dead worker's callbacks are taken over after this
  net::HttpTimeouts timeouts{5'000, 10'000};
  size_t max_response_bytes = 4 * 1024;  // read and ignored beyond this
};

struct CallbackSetup {
  std::vector<CallbackTarget> targets;  // empty: no dispatcher
  CallbackOptions options;
  pipeline::CidrList allowed;           // CALLBACK_ALLOWED_CIDRS
  bool allow_plain_http = false;        // development: http:// receivers
  std::string ca_file;                  // OUTBOUND_CA_FILE
};

/** Fills `out` from the configuration and the keys; false with `error` (names only). */
bool makeCallbackSetup(const config::Config& cfg, const pipeline::KeyRegistry& keys, CallbackSetup* out,
                       std::string* error);

/**
 * Whether a callback may connect to `addr` (16 bytes, IPv4 mapped): inside
 * `allowed`, or outside every refused range.
 */
bool callbackAddressAllowed(const uint8_t (&addr)[16], const pipeline::CidrList& allowed);

/**
 * The delay before try `tries` + 1 (tries >= 1 failed so far): retry_min_ms
 * doubled per try up to retry_max_ms, plus up to half of it again drawn from
 * `rng` (xorshift state, never 0).
 */
uint32_t callbackRetryDelay(const CallbackOptions& options, uint32_t tries, uint64_t* rng);

/** Counters since start (tests, and the event lines' totals). */
struct CallbackStats {
  uint64_t delivered = 0;   // answered 2xx
  uint64_t failed = 0;      // attempts that did not get a 2xx
  uint64_t retried = 0;     // of those, scheduled again
  uint64_t dropped = 0;     // given up (tries exhausted, or refused)
  uint64_t refused = 0;     // of those, refused before any connection (address or URL)
};

class CallbackDispatcher {
 public:
  CallbackDispatcher(uv_loop_t* loop, state::CallbackQueue& queue, const CallbackSetup& setup);
  ~CallbackDispatcher();
  CallbackDispatcher(const CallbackDispatcher&) = delete;
  CallbackDispatcher& operator=(const CallbackDispatcher&) = delete;

  void start();
  /** Stops reading; what is in flight is cancelled (it stays queued: at-least-once). */
  void stop();

  const CallbackStats& stats() const { return stats_; }
  size_t inFlight() const { return in_flight_; }

 private:
  struct Slot;
  struct KeyState;
  static void onTick(uv_timer_t* t);
  static void onRead(void* ctx, bool ok, std::span<const state::CallbackEvent> events);
  static void onSent(void* ctx, const net::HttpResult& r);
  static void onStored(void* ctx, bool ok);
  static void onStoreDropped(void* ctx, std::string_view key_id, uint64_t fresh, uint64_t total);
  static bool allowAddress(const void* ctx, const uint8_t (&addr)[16]);
  void tick();
  void readMore();
  void dispatch(const state::CallbackEvent& e);
  void settle(Slot* s, const net::HttpResult& r);
  void drop(Slot* s, std::string_view reason);
  void ack(KeyState* k, std::string_view entry_id);
  void flushAcks();
  uint32_t retryDelay(uint32_t tries);
  KeyState* keyState(std::string_view key_id);

  uv_loop_t* loop_;
  state::CallbackQueue& queue_;
  const CallbackSetup& setup_;
  std::unique_ptr<net::HttpClient> http_;
  uv_timer_t* timer_ = nullptr;  // heap: closed asynchronously
  std::vector<std::unique_ptr<KeyState>> keys_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  size_t in_flight_ = 0;
  bool reading_ = false;
  bool stopped_ = true;
  uint64_t last_promote_ms_ = 0;
  uint64_t rng_;
  size_t cursor_ = 0;  // the key the next read starts at (round robin)
  std::vector<std::string_view> read_keys_;  // per read, reused
  CallbackStats stats_;
};

}  // namespace phigate::delivery
