"""A throwaway SMTP server for FieldSync's tests (aiosmtpd), listening on 127.0.0.1 only.

Prints the port it listens on as the first line of standard output, then appends one JSON line per message it
accepts to --record: the envelope, whether the session used TLS, the login and mechanism, and the message's
Subject, Date, Message-ID and decoded body. Exits when standard input closes (its parent test ended) or after
--lifetime seconds, whichever comes first.

  --tls-cert/--tls-key   offer STARTTLS with this certificate, and require it before MAIL
  --username/--password  require AUTH with exactly these
  --mechanisms           the AUTH mechanisms to offer (default: LOGIN,PLAIN)
  --reject-rcpt ADDRESS  answer 550 to RCPT TO this address
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--mechanisms", default="LOGIN,PLAIN")
    parser.add_argument("--reject-rcpt", action="append", default=[])
    parser.add_argument("--lifetime", type=float, default=120)
    options = parser.parse_args()

    tls_context = None
    if options.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(options.tls_cert, options.tls_key)

    offered = {name.strip().upper() for name in options.mechanisms.split(",") if name.strip()}
    excluded = [name for name in ("LOGIN", "PLAIN") if name not in offered]

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == options.username
            and auth_data.password.decode() == options.password
        ):
            return AuthResult(success=True, auth_data={"login": options.username, "mechanism": mechanism})
        return AuthResult(success=False, handled=False)

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in options.reject_rcpt:
                return "550 5.1.1 no such mailbox here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "auth": session.auth_data if session.authenticated else None,
                "subject": str(message["Subject"]),
                "from": str(message["From"]),
                "to": str(message["To"]),
                "date": str(message["Date"]),
                "message_id": str(message["Message-ID"]),
                "content_type": message.get_content_type(),
                "charset": message.get_content_charset(),
                "body": body.get_content() if body is not None else None,
                "raw": envelope.original_content.decode("utf-8", "replace"),
            }
            with open(options.record, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            return "250 2.0.0 accepted"

    handler = Handler()

    def factory():
        return SMTP(
            handler,
            hostname="fieldsync-test-smtp",
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            authenticator=authenticator if options.username else None,
            auth_required=options.username is not None,
            auth_require_tls=tls_context is not None,
            auth_exclude_mechanism=excluded,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host="127.0.0.1", port=0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(options.lifetime)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
