# Test helper for tests/integration/ehospital_test.cpp, on 127.0.0.1 only:
# a stand-in eHospital / ABDM upstream over HTTPS (certificate and key from
# the command line, made by the test from its own CA), with an OAuth2 token
# endpoint, plus a plain-HTTP control port for the test. Prints
# "<https_port> <control_port>" once both listen, then runs until killed.
#
# HTTPS, token endpoint: POST /oauth/token (RFC 6749 form: grant_type,
# client_id=test-client, client_secret=test-secret) or POST
# /gateway/v0.5/sessions (ABDM JSON clientId / clientSecret) -> a fresh token
# "tok-<n>" with expires_in (control: /__expires_in?s=N), after an optional
# delay (/__token_delay?ms=N). Wrong credentials: 401.
#
# HTTPS, everything else needs "Authorization: Bearer <t>" with t the
# static token "static-upstream-token" or an issued token not revoked
# (control: POST /__revoke revokes every token issued so far; POST
# /__refuse_all refuses every token from then on); otherwise 401.
# Then, by path:
#   /api/patients/<id>   200 JSON, with ETag, Last-Modified, a Set-Cookie and
#                        X-Upstream-Internal (which must not come back);
#                        304 when If-None-Match is "v1"
#   /api/appointments    201 echoing method and body (any method)
#   /api/slow            200 after 3 s
#   /api/big             200 with 256 KiB
#   /api/malformed       bytes that are not HTTP, then close
#   /api/error           500 with a body that must not come back
#   anything else        404 JSON
# Every request to the HTTPS port (token requests too) is recorded.
#
# Control (plain HTTP): GET /__requests -> JSON list of {method, path, query,
# headers (lower-case names), body}; GET /__tokens -> {"fetches": n}.
import http.server, json, ssl, sys, threading, time, urllib.parse

def dumps(v):  # compact, as the C++ test's jsonField() reads it
    return json.dumps(v, separators=(",", ":"))

lock = threading.Lock()
state = {"requests": [], "fetches": 0, "issued": set(), "revoked": set(),
         "expires_in": 3600, "token_delay_ms": 0, "refuse_all": False}
STATIC = "static-upstream-token"

class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass

    def reply(self, status, body=b"", headers=(), ctype="application/json"):
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and status != 304: self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        with lock:
            state["requests"].append({"method": self.command, "path": url.path, "query": url.query,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode("latin-1")})
        if url.path in ("/oauth/token", "/gateway/v0.5/sessions"):
            return self.token(url.path, body)
        auth = self.headers.get("Authorization") or ""
        tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with lock:
            ok = not state["refuse_all"] and (
                tok == STATIC or (tok in state["issued"] and tok not in state["revoked"]))
        if not ok:
            return self.reply(401, b'{"error":"invalid_token","secret":"UPSTREAM-401-BODY"}')
        p = url.path
        if p.startswith("/api/patients/"):
            if self.headers.get("If-None-Match") == '"v1"':
                return self.reply(304, headers=[("ETag", '"v1"')])
            body = dumps({"id": p.rsplit("/", 1)[1], "name": "Test Patient"}).encode()
            return self.reply(200, body, [("ETag", '"v1"'), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
                                          ("Set-Cookie", "upstream=1"), ("X-Upstream-Internal", "leak")],
                              "application/fhir+json")
        if p == "/api/appointments":
            return self.reply(201, dumps({"method": self.command, "body": body.decode()}).encode())
        if p == "/api/slow":
            time.sleep(3)
            return self.reply(200, b"{}")
        if p == "/api/big":
            return self.reply(200, b"x" * (256 * 1024), ctype="text/plain")
        if p == "/api/malformed":
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return
        if p == "/api/error":
            return self.reply(500, b'{"trace":"UPSTREAM-500-BODY"}', [("X-Upstream-Internal", "leak")])
        return self.reply(404, b'{"error":"not found"}')

    def token(self, path, body):
        if path == "/oauth/token":
            form = urllib.parse.parse_qs(body.decode())
            good = (form.get("grant_type") == ["client_credentials"] and
                    form.get("client_id") == ["test-client"] and form.get("client_secret") == ["test-secret"])
        else:
            try:
                j = json.loads(body)
            except ValueError:
                j = {}
            good = j.get("clientId") == "test-client" and j.get("clientSecret") == "test-secret"
        with lock:
            state["fetches"] += 1
            delay = state["token_delay_ms"]
            expires = state["expires_in"]
        if delay: time.sleep(delay / 1000)
        if not good:
            return self.reply(401, b'{"error":"invalid_client"}')
        with lock:
            tok = "tok-%d" % state["fetches"]
            state["issued"].add(tok)
        key = ("access_token", "expires_in") if path == "/oauth/token" else ("accessToken", "expiresIn")
        return self.reply(200, dumps({key[0]: tok, key[1]: expires, "token_type": "Bearer"}).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        with lock:
            if url.path == "/__requests":
                out = dumps(state["requests"])
            elif url.path == "/__tokens":
                out = dumps({"fetches": state["fetches"]})
            elif url.path == "/__revoke":
                state["revoked"] |= state["issued"]
                out = "{}"
            elif url.path == "/__refuse_all":
                state["refuse_all"] = True
                out = "{}"
            elif url.path == "/__expires_in":
                state["expires_in"] = int(q["s"][0])
                out = "{}"
            elif url.path == "/__token_delay":
                state["token_delay_ms"] = int(q["ms"][0])
                out = "{}"
            else:
                out = "{}"
        body = out.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer

class TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def __init__(self, cert, key):
        super().__init__(("127.0.0.1", 0), Upstream)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
    def handle_error(self, request, client_address): pass

class ControlServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address): pass

tls = TlsServer(sys.argv[1], sys.argv[2])
control = ControlServer(("127.0.0.1", 0), Control)
for s in (tls, control):
    threading.Thread(target=s.serve_forever, daemon=True).start()
print(tls.server_address[1], control.server_address[1], flush=True)
threading.Event().wait()  # until the test kills us
