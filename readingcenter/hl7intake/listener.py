"""The MLLP listener: hospital engines connect, send framed messages, read one ACK for each.

One thread per connection (an engine keeps its connection open and sends one message at a
time, waiting for each ACK), so a slow database answer to one hospital never holds another's.
A message that fails for a reason of ours (the database gone) is answered AE with the reason
and not recorded as answered, so the engine's resend is processed in full.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading

from django.db import close_old_connections, connection

from readingcenter.hl7intake import er7
from readingcenter.hl7intake.services import Answer, message_receive

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # an order is kilobytes; a runaway sender is cut off
IDLE_SECONDS = 600


def answer_one(raw: bytes, peer: str) -> Answer:
    try:
        return message_receive(raw, peer=peer)
    except Exception as exc:  # a failure of ours, not of the message: the engine resends
        log.exception("HL7 message from %s could not be processed", peer)
        try:
            header = er7.read_header(raw)
        except er7.MessageRefused:
            header = er7.Header()
        text = er7.ack(header, "AE", f"Internal error, send again: {type(exc).__name__}",
                       error="internal_error", hl7_error="207")  # fmt: skip
        return Answer(text, "utf-8", "AE")
    finally:
        close_old_connections()


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            self._serve()
        finally:
            connection.close()  # this thread's own database connection ends with it

    def _serve(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IDLE_SECONDS)
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        buffer = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                return
            if not chunk:
                return
            buffer += chunk
            if len(buffer) > MAX_MESSAGE_BYTES:
                log.warning("HL7 sender %s exceeded %d bytes without a frame end", peer,
                            MAX_MESSAGE_BYTES)  # fmt: skip
                return
            for raw in er7.frames(buffer):
                answer = answer_one(raw, peer)
                try:
                    sock.sendall(answer.framed())
                except OSError:
                    return


class Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int):
        super().__init__((host, port), _Connection)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="hl7-listener")
        thread.start()
        return thread
