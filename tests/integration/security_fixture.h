// Shared pieces of the security tests (security_*_test.cpp, audit_test.cpp):
// valid request bodies, one API key per role, and one-call request helpers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.h"

namespace phigate::test {

// Valid bodies for the three sending routes (DESIGN §3).
inline const std::string kSmsBody = R"({"to":"+919876543210","message":"Your appointment is confirmed"})";
inline const std::string kBulkBody =
    R"({"to":["+919876543210","+919876543211"],"message":"The clinic is closed today"})";
inline const std::string kEmailBody =
    R"({"to":"patient@example.org","subject":"Appointment","text":"See you on Monday"})";

/** A syntactically valid bearer token that names its key (tests only). */
inline std::string tokenFor(const std::string& key_id) {
  return "tok_" + key_id + "_Zq7Wm2Xk9Pv4Rt8Ys3Bn6Hd1";
}

inline TestKey keyWithRoles(const std::string& id, std::vector<std::string> roles) {
  TestKey k;
  k.id = id;
  k.token = tokenFor(id);
  k.roles = std::move(roles);
  return k;
}

/** The roles of DESIGN §8, each the only role of key "role-<name>". */
inline const std::vector<std::string> kAllRoles = {"sms",           "bulk",    "email",
                                                   "ehospital",     "ehospital-write",
                                                   "metrics",       "admin"};

inline std::vector<TestKey> oneKeyPerRole() {
  std::vector<TestKey> keys;
  for (const std::string& role : kAllRoles) keys.push_back(keyWithRoles("role-" + role, {role}));
  return keys;
}

/** A request id no other request of this test binary uses. */
inline std::string uniqueRequestId(const std::string& tag) {
  static int counter = 0;
  return tag + "-" + std::to_string(++counter);
}

/**
 * Sends `req` on a fresh connection; status 0 (and a test failure) when no
 * answer came. The request's timestamp and nonce are fixed by the first send,
 * so sending the same object again is an exact replay.
 */
inline Response call(uint16_t port, ApiRequest& req) {
  auto r = request(port, req.raw());
  if (!r) {
    ADD_FAILURE() << "no response to " << req.method << " " << req.path;
    return Response{};
  }
  return *r;
}
inline Response call(uint16_t port, ApiRequest&& req) { return call(port, req); }

/** A POST of `body` to `path` with `token` and fresh replay headers. */
inline ApiRequest post(const std::string& path, const std::string& body, const std::string& token) {
  ApiRequest req;
  req.path = path;
  req.body = body;
  req.token = token;
  return req;
}

/** GET with a bearer token (empty: none) on a fresh connection. */
inline Response callGet(uint16_t port, const std::string& path, const std::string& token,
                        const std::string& extra_headers = "") {
  auto r = request(port, authedGet(path, token, extra_headers));
  if (!r) {
    ADD_FAILURE() << "no response to GET " << path;
    return Response{};
  }
  return *r;
}

/** The 401 every authentication failure gets, identical whatever the reason. */
inline void expectUnauthorized(const Response& r) {
  expectProblem(r, 401, "unauthorized");
  EXPECT_EQ(r.count("www-authenticate"), 1u);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"phigate\"");
  EXPECT_EQ(jsonField(r.body, "detail"),
            "A valid bearer token is required: send Authorization: Bearer <token>.");
  EXPECT_EQ(jsonField(r.body, "code"), "") << "which failure it was is not told";
  EXPECT_EQ(jsonField(r.body, "title"), "Unauthorized");
}

/** A replay-protection 401 (headers missing, stale timestamp, bad signature). */
inline void expectReplayRefusal(const Response& r, const std::string& type_slug) {
  expectProblem(r, 401, type_slug);
  EXPECT_EQ(r.count("www-authenticate"), 1u);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"phigate\"");
}

/** A validation problem (400 malformed / 422 schema) listing exactly `errors`. */
inline void expectValidation(const Response& r, int status,
                             const std::vector<std::pair<std::string, std::string>>& errors) {
  expectProblem(r, status, "validation");
  EXPECT_EQ(problemErrors(r.body), errors);
}

}  // namespace phigate::test
