// The in-process store's outbox (state/outbox.h): a queue of message ids
// per key and lane, read by this process's one consumer. The same lifecycle
// as the Redis scripts (redis_outbox_scripts.h), checked by the same
// behaviour tests; nothing survives a restart (development only).
#include <sodium.h>

#include <algorithm>

#include "state/memory_store.h"
#include "state/message_record.h"

namespace phigate::state {

MessageStatus MemoryStore::statusOf(const Message& m) const {
  MessageStatus s;
  s.status = m.status;
  s.channel = m.channel;
  s.created_unix_ms = m.created_unix_ms;
  s.updated_unix_ms = m.updated_unix_ms;
  s.segments = m.segments;
  s.attempts = m.attempts;
  s.provider = m.provider;
  s.provider_message_id = m.provider_message_id;
  s.error_code = m.error_code;
  return s;
}

void MemoryStore::finalize(const std::string& id, Message& m, int64_t now) {
  sodium_memzero(m.sealed.data(), m.sealed.size());
  std::string().swap(m.sealed);
  --live_messages_;
  final_order_.emplace_back(now + int64_t{outbox_opts_.retention_s} * 1000, id);
}

void MemoryStore::dropFinal(int64_t now, size_t need) {
  // Final records take no payload but do take room: past the retention,
  // or when live messages need the room, the oldest go first.
  while (!final_order_.empty() &&
         (final_order_.front().first <= now || messages_.size() + need > limits_.max_messages)) {
    messages_.erase(final_order_.front().second);
    final_order_.pop_front();
  }
}

void MemoryStore::readPending(std::string_view, Lane, std::string_view, uint32_t, void* ctx,
                              ReadDone done) {
  done(ctx, true, {});  // calls never fail here: no reply is ever lost
}

void MemoryStore::read(std::span<const std::string_view> key_ids, uint8_t lanes, uint32_t per_key,
                       void* ctx, ReadDone done) {
  std::vector<OutboxItem> items;  // per read, not per request
  for (size_t lane = 0; lane < kLaneCount; ++lane) {
    if (!(lanes & (1u << lane))) continue;
    for (std::string_view key : key_ids) {
      auto q = queues_.find(std::string(key));
      if (q == queues_.end()) continue;
      std::deque<std::string>& ids = q->second[lane];
      uint32_t taken = 0;
      while (!ids.empty() && taken < per_key) {
        auto it = messages_.find(ids.front());
        ids.pop_front();
        // Cancelled while queued (or gone): not delivered.
        if (it == messages_.end() || it->second.status != "queued") continue;
        const Message& m = it->second;
        OutboxItem item;
        item.key_id = m.key_id;
        item.message_id = it->first;
        item.sealed = m.sealed;
        item.entry_id = it->first;
        item.lane = m.lane;
        item.attempts = m.attempts;
        item.created_unix_ms = m.created_unix_ms;
        items.push_back(item);
        ++taken;
      }
    }
  }
  done(ctx, true, items);
}

void MemoryStore::reclaim(std::string_view, Lane, uint32_t, uint32_t, void* ctx, ReadDone done) {
  done(ctx, true, {});  // no other consumer to take over from
}

void MemoryStore::begin(std::string_view key_id, std::span<const BeginItem> items, std::string_view provider,
                        void* ctx, BeginDone done) {
  const int64_t now = now_ms_();
  std::vector<BeginStatus> out(items.size(), BeginStatus::kGone);
  for (size_t i = 0; i < items.size(); ++i) {
    auto it = messages_.find(std::string(items[i].message_id));
    if (it == messages_.end() || it->second.key_id != key_id) continue;
    Message& m = it->second;
    if (m.status == "cancelled") {
      out[i] = BeginStatus::kCancelled;
    } else if (m.status == "queued" || m.status == "sending") {
      m.status = "sending";
      m.attempts = items[i].attempt;
      m.updated_unix_ms = now;
      m.provider = provider;
      out[i] = BeginStatus::kGo;
    }
  }
  done(ctx, true, out);
}

void MemoryStore::finish(std::string_view key_id, std::span<const FinishItem> items, void* ctx, Done done) {
  const int64_t now = now_ms_();
  for (const FinishItem& f : items) {
    auto it = messages_.find(std::string(f.message_id));
    if (it == messages_.end() || it->second.key_id != key_id) continue;
    Message& m = it->second;
    // Compare and set, as the Redis script does.
    bool ok = false;
    switch (f.expect) {
      case FinishExpect::kAny: ok = !isFinalStatus(m.status) && m.status != "sent"; break;
      case FinishExpect::kSent: ok = m.status == "sent"; break;
      case FinishExpect::kSending: ok = m.status == "sending" && m.attempts == f.attempts; break;
    }
    if (!ok) continue;
    const bool was_live = m.status != "sent";
    m.status = statusName(f.kind);
    if (f.attempts != 0) m.attempts = f.attempts;  // 0: a report, the count stays
    m.updated_unix_ms = now;
    if (!f.provider.empty()) m.provider = f.provider;
    if (!f.provider_message_id.empty()) m.provider_message_id = f.provider_message_id;
    // The last error stays until the message goes out.
    if (!f.error_code.empty() || f.kind == FinishKind::kSent || f.kind == FinishKind::kDelivered) {
      m.error_code = f.error_code;
    }
    noteCallback(it->first, m);
    auto& waits = reports_[m.key_id];
    if (f.kind == FinishKind::kRetry) {
      retries_.emplace(f.retry_at_unix_ms, it->first);
      continue;
    }
    // Sent: the payload is no longer needed (a sent message is never sent
    // again), only the record, and its report wait.
    if (was_live) finalize(it->first, m, now);
    if (f.kind == FinishKind::kSent && f.awaiting_report) {
      auto [w, fresh] = waits.try_emplace(it->first, ReportWaitTimes{now, now});
      w->second.ask_after = now;  // asked again after the delay; the first send time stays
      (void)fresh;
    }
    if (f.stop_reports || f.kind == FinishKind::kDelivered || f.kind == FinishKind::kUndelivered) {
      waits.erase(it->first);
    }
  }
  done(ctx, true);
}

void MemoryStore::requeue(std::string_view key_id, std::span<const RequeueItem> items, void* ctx, Done done) {
  // Back to the front of their queue, in their order.
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    auto m = messages_.find(std::string(it->message_id));
    if (m == messages_.end() || m->second.key_id != key_id || m->second.status != "queued") continue;
    queues_[m->second.key_id][static_cast<size_t>(m->second.lane)].push_front(m->first);
  }
  done(ctx, true);
}

void MemoryStore::promoteRetries(std::string_view key_id, uint32_t max, void* ctx, Done done) {
  const int64_t now = now_ms_();
  uint32_t moved = 0;
  for (auto it = retries_.begin(); it != retries_.end() && it->first <= now && moved < max;) {
    auto m = messages_.find(it->second);
    if (m == messages_.end() || m->second.status != "queued") {
      it = retries_.erase(it);  // cancelled or gone meanwhile
      continue;
    }
    if (m->second.key_id != key_id) {
      ++it;
      continue;
    }
    queues_[m->second.key_id][static_cast<size_t>(m->second.lane)].push_back(m->first);
    it = retries_.erase(it);
    ++moved;
  }
  done(ctx, true);
}

void MemoryStore::reportsDue(std::string_view key_id, int64_t sent_before_unix_ms, uint32_t max, void* ctx,
                             ReportsDone done) {
  std::vector<ReportWait> out;
  auto r = reports_.find(std::string(key_id));
  if (r != reports_.end()) {
    for (auto it = r->second.begin(); it != r->second.end() && out.size() < max;) {
      auto m = messages_.find(it->first);
      if (m == messages_.end() || m->second.status != "sent") {
        it = r->second.erase(it);
        continue;
      }
      if (it->second.ask_after <= sent_before_unix_ms) {
        out.push_back({it->first, m->second.provider_message_id, it->second.sent});
      }
      ++it;
    }
  }
  done(ctx, true, out);
}

void MemoryStore::trim(std::string_view key_id, void* ctx, Done done) {
  const int64_t now = now_ms_();
  dropFinal(now, 0);
  auto r = reports_.find(std::string(key_id));
  if (r != reports_.end()) {
    const int64_t give_up = now - int64_t{outbox_opts_.report_give_up_s} * 1000;
    std::erase_if(r->second, [give_up](const auto& kv) { return kv.second.ask_after <= give_up; });
  }
  done(ctx, true);
}

}  // namespace phigate::state
