#include "pipeline/key_registry.h"

#include <algorithm>
#include <cstring>

namespace phigate::pipeline {

uint64_t KeyRegistry::prefix(const crypto::Sha256& h) {
  uint64_t p;
  memcpy(&p, h.data(), sizeof p);
  return p;
}

bool KeyRegistry::add(ApiKey key, std::string* error) {
  for (const ApiKey& k : keys_) {
    if (k.id == key.id) {
      *error = "API key id used twice: " + key.id;
      return false;
    }
    if (crypto::constantTimeEqual(k.token_hash.data(), key.token_hash.data(), crypto::kSha256Bytes)) {
      *error = "two API keys share a token (key " + key.id + ")";
      return false;
    }
  }
  index_.emplace_back(prefix(key.token_hash), static_cast<uint32_t>(keys_.size()));
  keys_.push_back(std::move(key));
  return true;
}

bool KeyRegistry::build(const std::vector<config::KeySpec>& specs, std::string_view sms_token,
                        std::string_view admin_token, KeyRegistry* out, std::string* error) {
  out->keys_.clear();
  out->index_.clear();
  for (const config::KeySpec& s : specs) {
    ApiKey k;
    k.id = s.id;
    if (!crypto::fromHex(s.token_sha256, k.token_hash)) {
      *error = "API_KEYS_FILE: key " + s.id + ": bad token_sha256";
      return false;
    }
    std::string_view unknown;
    if (!permissionsForRoles(s.roles, &k.permissions, &unknown)) {
      *error = "API_KEYS_FILE: key " + s.id + ": unknown role";
      return false;
    }
    // One list text for CidrList::parse: separators only between entries (a
    // trailing comma is refused there as an empty entry).
    std::string joined;
    for (size_t i = 0; i < s.allow_cidrs.size(); ++i) {
      if (i > 0) joined += ',';
      joined += s.allow_cidrs[i];
    }
    std::string cidr_error;
    if (!CidrList::parse(joined, &k.allow, &cidr_error)) {
      *error = "API_KEYS_FILE: key " + s.id + ": allow_cidrs: " + cidr_error;
      return false;
    }
    k.test_mode = s.test_mode;
    k.revoked = s.revoked;
    if (s.signing_secret) k.signing_secret.assign(s.signing_secret->begin(), s.signing_secret->end());
    k.limits = s.limits;
    if (s.status_callback_url && s.callback_secret) {
      k.status_callback_url = *s.status_callback_url;
      k.callback_secret.assign(s.callback_secret->begin(), s.callback_secret->end());
    }
    if (!out->add(std::move(k), error)) return false;
  }
  const std::pair<const char*, std::string_view> env_keys[] = {{"env-sms", sms_token},
                                                                {"env-admin", admin_token}};
  for (const auto& [id, token] : env_keys) {
    if (token.empty()) continue;
    ApiKey k;
    k.id = id;
    k.token_hash = crypto::sha256(token);
    k.permissions = std::string_view(id) == "env-sms" ? permissionsForRole("sms") : kAllPermissions;
    if (!out->add(std::move(k), error)) return false;
  }
  std::sort(out->index_.begin(), out->index_.end());
  return true;
}

const ApiKey* KeyRegistry::find(std::string_view token) const {
  const crypto::Sha256 h = crypto::sha256(token);
  const uint64_t p = prefix(h);
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(p, uint32_t{0}));
  for (; it != index_.end() && it->first == p; ++it) {
    const ApiKey& k = keys_[it->second];
    if (crypto::constantTimeEqual(k.token_hash.data(), h.data(), h.size())) return &k;
  }
  return nullptr;
}

std::vector<std::string> KeyRegistry::ids() const {
  std::vector<std::string> out;
  for (const ApiKey& k : keys_) {
    if (std::find(out.begin(), out.end(), k.id) == out.end()) out.push_back(k.id);
  }
  return out;
}

}  // namespace phigate::pipeline
