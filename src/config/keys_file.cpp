#include "config/keys_file.h"

#include "common/ascii.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <set>

namespace phigate::config {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kMinSigningSecret = kMinCallbackSecret;

// One part of a parsed URL; false when it is absent.
bool urlPart(CURLU* u, CURLUPart part, std::string* out) {
  char* p = nullptr;
  if (curl_url_get(u, part, &p, 0) != CURLUE_OK || p == nullptr) return false;
  out->assign(p);
  curl_free(p);
  return true;
}

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
  KeyParser(size_t index, std::string* error, bool allow_http)
      : index_(index), error_(error), allow_http_(allow_http) {}

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
      } else if (name == "status_callback_url") {
        ok = callbackUrl(v, k);
      } else if (name == "callback_secret") {
        ok = callbackSecret(v, k);
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
    if (k->status_callback_url.has_value() != k->callback_secret.has_value()) {
      return fail("status_callback_url and callback_secret go together");
    }
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
  bool callbackUrl(element v, KeySpec* k) {
    if (v.is_null()) return true;
    std::string s;
    if (!string(v, &s)) return false;
    if (!validCallbackUrl(s, allow_http_)) {
      return fail(allow_http_ ? "status_callback_url must be an http(s):// URL with a host (no "
                                "trailing dot), no user info and no fragment"
                              : "status_callback_url must be an https:// URL with a host (no "
                                "trailing dot), no user info and no fragment");
    }
    k->status_callback_url = std::move(s);
    return true;
  }
  bool callbackSecret(element v, KeySpec* k) {
    if (v.is_null()) return true;
    std::string s;
    if (!string(v, &s)) return false;
    if (s.size() < kMinCallbackSecret) return fail("callback_secret must be at least 32 characters");
    k->callback_secret = std::move(s);
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
  bool allow_http_;
};

}  // namespace

bool isValidKeyId(std::string_view id) { return isIdentifier(id, kMaxKeyIdLength); }

// curl's parser, the one the HTTP client connects with: what is checked
// here is what it will read. Whitespace and control bytes are refused
// before curl sees them (curl would refuse most, or encode some).
bool validCallbackUrl(std::string_view url, bool allow_http) {
  if (url.empty() || url.size() > kMaxCallbackUrl) return false;
  for (const char c : url) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f) return false;
  }
  // Parsed strictly: an explicit scheme, no guessing.
  if (!(url.starts_with("https://") || (allow_http && url.starts_with("http://")))) return false;
  // An authority right after "//" (curl would read "https:///x" as host "x").
  const size_t authority = url.find("://") + 3;
  if (authority >= url.size() || url[authority] == '/' || url[authority] == '?') return false;
  CURLU* u = curl_url();
  if (u == nullptr) return false;
  std::string scheme, host, part;
  const bool ok =
      curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK &&
      urlPart(u, CURLUPART_SCHEME, &scheme) && (scheme == "https" || (allow_http && scheme == "http")) &&
      // A trailing-dot host ("app.example.") is refused: the HTTP client
      // refuses it when it sends, so it is refused here, at start-up.
      urlPart(u, CURLUPART_HOST, &host) && !host.empty() && host.back() != '.' &&
      !urlPart(u, CURLUPART_USER, &part) &&
      !urlPart(u, CURLUPART_PASSWORD, &part) && !urlPart(u, CURLUPART_OPTIONS, &part) &&
      !urlPart(u, CURLUPART_FRAGMENT, &part) && !urlPart(u, CURLUPART_ZONEID, &part) &&
      url.find('#') == std::string_view::npos && url.find('@') == std::string_view::npos;
  curl_url_cleanup(u);
  return ok;
}

bool parseKeysFile(std::string_view json, std::vector<KeySpec>* out, std::string* error,
                   bool allow_http_callbacks) {
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
    KeyParser p(i, error, allow_http_callbacks);
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
