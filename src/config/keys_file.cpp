#include "config/keys_file.h"

#include "common/ascii.h"

#include <simdjson.h>

#include <algorithm>
#include <set>

namespace phigate::config {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kMinSigningSecret = 32;

bool isLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

template <size_t N>
bool oneOf(std::string_view v, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), v) != std::end(list);
}

class KeyParser {
 public:
  KeyParser(size_t index, std::string* error) : index_(index), error_(error) {}

  bool parse(object obj, KeySpec* k) {
    std::set<std::string_view> seen;
    for (auto field : obj) {
      const std::string_view name = field.key;
      if (!seen.insert(name).second) return fail("duplicate field");
      element v = field.value;
      bool ok;
      if (name == "id") {
        ok = string(v, &k->id) && (isValidKeyId(k->id) ||
                                             fail("id must be 1-" + std::to_string(kMaxKeyIdLength) +
                                                  " of [A-Za-z0-9._-]"));
      } else if (name == "token_sha256") {
        ok = string(v, &k->token_sha256) &&
             ((k->token_sha256.size() == 64 && isLowerHex(k->token_sha256)) ||
              fail("token_sha256 must be 64 lower-case hex characters"));
      } else if (name == "roles") {
        ok = strings(v, &k->roles) && roles(k->roles);
      } else if (name == "allow_cidrs") {
        ok = strings(v, &k->allow_cidrs);
      } else if (name == "mode") {
        std::string mode;
        ok = string(v, &mode) && (mode == "live" || mode == "test" || fail("mode must be live or test"));
        k->test_mode = mode == "test";
      } else if (name == "signing_secret") {
        ok = signingSecret(v, k);
      } else if (name == "limits") {
        ok = limits(v, k);
      } else if (name == "revoked") {
        ok = v.type() == element_type::BOOL || fail("revoked must be true or false");
        if (ok) k->revoked = v.get_bool().value_unsafe();
      } else {
        ok = fail("unknown field");
      }
      if (!ok) return false;
    }
    if (k->id.empty()) return fail("id is required");
    if (k->token_sha256.empty()) return fail("token_sha256 is required");
    if (k->roles.empty()) return fail("roles must name at least one role");
    return true;
  }

 private:
  bool fail(std::string_view why) {
    *error_ = "API_KEYS_FILE: key " + std::to_string(index_ + 1) + ": " + std::string(why);
    return false;
  }
  bool string(element v, std::string* out) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) return fail("a field has the wrong type");
    out->assign(s);
    return true;
  }
  bool strings(element v, std::vector<std::string>* out) {
    simdjson::dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) return fail("expected a list of strings");
    for (element e : arr) {
      std::string s;
      if (!string(e, &s)) return false;
      out->push_back(std::move(s));
    }
    return true;
  }
  bool roles(const std::vector<std::string>& rs) {
    for (const std::string& r : rs) {
      if (!oneOf(r, kRoles)) return fail("unknown role");
    }
    return true;
  }
  bool signingSecret(element v, KeySpec* k) {
    if (v.is_null()) return true;
    std::string s;
    if (!string(v, &s)) return false;
    if (s.size() < kMinSigningSecret) return fail("signing_secret must be at least 32 characters");
    k->signing_secret = std::move(s);
    return true;
  }
  bool limits(element v, KeySpec* k) {
    object obj;
    if (v.get_object().get(obj) != simdjson::SUCCESS) return fail("limits must be an object");
    std::set<std::string_view> seen;
    for (auto f : obj) {
      if (!oneOf(f.key, kLimitClasses)) return fail("unknown limit class");
      if (!seen.insert(f.key).second) return fail("duplicate limit class");
      uint64_t n;
      // Rate windows remember each admission they count; a daily quota is a counter.
      const uint64_t max = f.key == "daily" ? 1'000'000'000 : 1'000'000;
      if (f.value.get_uint64().get(n) != simdjson::SUCCESS || n == 0 || n > max) {
        return fail("limits must be positive integers (at most 1000000 per window, 1000000000 daily)");
      }
      k->limits.emplace_back(std::string(f.key), static_cast<uint32_t>(n));
    }
    return true;
  }

  size_t index_;
  std::string* error_;
};

}  // namespace

bool isValidKeyId(std::string_view id) { return isIdentifier(id, kMaxKeyIdLength); }

bool parseKeysFile(std::string_view json, std::vector<KeySpec>* out, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    *error = "API_KEYS_FILE is not valid JSON";
    return false;
  }
  object top;
  simdjson::dom::array keys;
  if (root.get_object().get(top) != simdjson::SUCCESS || top["keys"].get_array().get(keys) != simdjson::SUCCESS) {
    *error = "API_KEYS_FILE must be an object with a \"keys\" list";
    return false;
  }
  int lists = 0;
  for (auto f : top) {
    if (f.key != "keys") {
      *error = "API_KEYS_FILE: unknown top-level field";
      return false;
    }
    // Two "keys" lists: JSON tools disagree on which one wins, so a
    // revocation appended as a second list could be silently ignored.
    if (++lists > 1) {
      *error = "API_KEYS_FILE: duplicate top-level field";
      return false;
    }
  }
  std::set<std::string> ids, hashes;
  size_t i = 0;
  for (element e : keys) {
    object obj;
    KeySpec k;
    KeyParser p(i, error);
    if (e.get_object().get(obj) != simdjson::SUCCESS) {
      *error = "API_KEYS_FILE: key " + std::to_string(i + 1) + ": must be an object";
      return false;
    }
    if (!p.parse(obj, &k)) return false;
    if (!ids.insert(k.id).second) {
      *error = "API_KEYS_FILE: key " + std::to_string(i + 1) + ": duplicate id";
      return false;
    }
    if (!hashes.insert(k.token_sha256).second) {
      *error = "API_KEYS_FILE: key " + std::to_string(i + 1) + ": token_sha256 used by another key";
      return false;
    }
    out->push_back(std::move(k));
    ++i;
  }
  return true;
}

}  // namespace phigate::config
