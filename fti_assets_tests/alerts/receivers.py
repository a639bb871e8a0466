"""Real receivers on 127.0.0.1 for the alert and lineage tests: an HTTP server that records
JSON bodies (answering a chosen status, to play a receiver that is down) and an SMTP server
(aiosmtpd). Tests wait on them for a number of messages, never for a time."""

from __future__ import annotations

import json
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from fti_assets_tests.service_process import free_port

WAIT_SECONDS = 300


class HttpReceiver:
    """POSTed JSON bodies, in order; every request answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status, self.bodies, self.requests = status, [], 0
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.requests += 1
                    if receiver.status < 300:
                        receiver.bodies.append(json.loads(body))
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, what: str):
        """Block until ``predicate(self)`` is true (a message arrived), or fail after a long time."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=WAIT_SECONDS):
                raise AssertionError(
                    f"never received {what}: {self.requests} requests, {len(self.bodies)} bodies"
                )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An SMTP server (aiosmtpd) keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
                with receiver._changed:
                    receiver.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                    receiver._changed.notify_all()
                return "250 OK"

        port = free_port()  # aiosmtpd checks its server by connecting to the port it was given
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{port}"

    def wait_for(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout=WAIT_SECONDS):
                raise AssertionError(f"never received {count} e-mails: {len(self.messages)}")

    def close(self) -> None:
        self.controller.stop()
