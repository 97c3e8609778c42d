# Test helper for tests/unit/net/http_client_test.cpp, on 127.0.0.1 only:
# an HTTPS server (certificate and key from the command line, made by the
# test from its own CA) answering any GET or POST with 200 "tls-<METHOD>",
# and an HTTP proxy: CONNECT (403 for host "blocked.invalid") and
# absolute-form forwarding (one kept-alive upstream connection per client
# connection). Prints "<tls_port> <proxy_port>" once both listen, then runs
# until killed. GET /__stats on the proxy port answers
# "<connects> <forwards> <tls_accepts>".
import http.server, select, socket, socketserver, ssl, sys, threading

lock = threading.Lock()
stats = {"connects": 0, "forwards": 0, "tls_accepts": 0}

def bump(k):
    with lock:
        stats[k] += 1

class TlsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        body = b"tls-" + self.command.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = answer
    do_POST = answer

class TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def __init__(self, cert, key):
        super().__init__(("127.0.0.1", 0), TlsHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
    def process_request(self, request, client_address):
        bump("tls_accepts")
        super().process_request(request, client_address)
    def handle_error(self, request, client_address): pass

def read_head(f):
    lines = []
    while True:
        line = f.readline(65536)
        if not line: return None
        if line in (b"\r\n", b"\n"): return lines
        lines.append(line.decode("latin-1").rstrip("\r\n"))

def header(lines, name):
    for l in lines[1:]:
        k, _, v = l.partition(":")
        if k.strip().lower() == name: return v.strip()
    return None

def pipe(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 30)
            if not r: return
            for s in r:
                data = s.recv(65536)
                if not data: return
                (b if s is a else a).sendall(data)
    except OSError:
        return

class ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        upstreams = {}
        while True:
            head = read_head(self.rfile)
            if not head: return
            method, target, _ = head[0].split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                if host == "blocked.invalid":
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                bump("connects")
                up = socket.create_connection((host, int(port)), timeout=5)
                up.settimeout(None)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                pipe(self.connection, up)
                up.close()
                return
            if target == "/__stats":
                with lock:
                    body = ("%d %d %d" % (stats["connects"], stats["forwards"], stats["tls_accepts"])).encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                return
            if not target.startswith("http://"):
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            bump("forwards")
            rest = target[len("http://"):]
            hostport, _, path = rest.partition("/")
            host, _, port = hostport.rpartition(":")
            n = int(header(head, "content-length") or 0)
            body = self.rfile.read(n) if n else b""
            up = upstreams.get(hostport)
            if up is None:
                up = socket.create_connection((host, int(port or 80)), timeout=5)
                upstreams[hostport] = up
            out = [method + " /" + path + " HTTP/1.1"]
            out += [l for l in head[1:] if not l.lower().startswith("proxy-")]
            up.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
            uf = up.makefile("rb")
            rhead = read_head(uf)
            if not rhead: return
            rn = int(header(rhead, "content-length") or 0)
            rbody = uf.read(rn) if rn else b""
            self.wfile.write(("\r\n".join(rhead) + "\r\n\r\n").encode("latin-1") + rbody)
            self.wfile.flush()

class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    def handle_error(self, request, client_address): pass

tls = TlsServer(sys.argv[1], sys.argv[2])
proxy = Proxy(("127.0.0.1", 0), ProxyHandler)
for s in (tls, proxy):
    threading.Thread(target=s.serve_forever, daemon=True).start()
print(tls.server_address[1], proxy.server_address[1], flush=True)
threading.Event().wait()  # until the test kills us
