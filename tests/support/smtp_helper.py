# Test helper for tests/unit/net/smtp_client_test.cpp, on 127.0.0.1 only:
# aiosmtpd (Debian's python3-aiosmtpd) serving three ports:
#
#   starttls: STARTTLS (certificate and key from the command line, made by
#             the test from its own CA) and AUTH PLAIN/LOGIN, offered only
#             after STARTTLS; user "phigate-test", password "s3cret-test".
#   plain:    no STARTTLS, no AUTH.
#   smtps:    implicit TLS (the same certificate), AUTH as above.
#
# Replies on demand, chosen by the recipient's local part: "rcpt451@...",
# "rcpt550@...", "rcpt421@..." answer RCPT TO with that code;
# "data451@...", "data550@..." accept RCPT and answer that code after the
# message. Every other recipient is accepted and its message delivered.
#
# Usage: smtp_helper.py CERT KEY OUTDIR. Each delivered message is written,
# exactly as received (dot-stuffing undone, the final ".\r\n" not
# included), to OUTDIR/msg-<n>.eml, then OUTDIR/msg-<n>.env gets
# "<mail_from>\n<rcpt>\n..." and is renamed into place last (the test waits
# for the .env). Each accepted connection appends one line ("<port>\n") to
# OUTDIR/connections. Prints "<starttls> <plain> <smtps>" once all listen,
# then runs until killed. Nothing (no password, no message) is printed.
import asyncio, logging, os, ssl, sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"phigate-test"
PASSWORD = b"s3cret-test"

cert, key, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
logging.getLogger("mail.log").setLevel(logging.ERROR)  # its deprecation warnings
counter = 0


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER \
        and auth_data.password == PASSWORD
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        for code in ("451", "550", "421"):
            if local == "rcpt" + code:
                return code + " " + code[0] + ".0.0 rejected on request"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global counter
        for code in ("451", "550"):
            if any(r.split("@", 1)[0] == "data" + code for r in envelope.rcpt_tos):
                return code + " " + code[0] + ".0.0 message rejected on request"
        counter += 1
        base = os.path.join(outdir, "msg-%d" % counter)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".tmp", "w") as f:
            f.write("\n".join([envelope.mail_from] + envelope.rcpt_tos) + "\n")
        os.rename(base + ".tmp", base + ".env")
        return "250 OK queued"


class CountingSMTP(SMTP):
    def __init__(self, port, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.listen_port = port

    # Called again after STARTTLS on the same instance: counted once.
    def connection_made(self, transport):
        if not getattr(self, "counted", False):
            self.counted = True
            with open(os.path.join(outdir, "connections"), "a") as f:
                f.write("%d\n" % self.listen_port)
        super().connection_made(transport)


async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    handler = Handler()
    loop = asyncio.get_running_loop()
    ports = {}

    def factory(name, **kw):
        return lambda: CountingSMTP(ports[name], handler, hostname="mail.phigate.test",
                                    authenticator=authenticator, loop=loop, **kw)

    servers = []
    for name, kw, tls in (("starttls", {"tls_context": ctx}, None),
                          ("plain", {}, None),
                          ("smtps", {"auth_require_tls": False}, ctx)):
        srv = await loop.create_server(factory(name, **kw), "127.0.0.1", 0, ssl=tls)
        ports[name] = srv.sockets[0].getsockname()[1]
        servers.append(srv)
    print(ports["starttls"], ports["plain"], ports["smtps"], flush=True)
    await asyncio.Event().wait()  # until the test kills us


asyncio.run(main())
