"""A tiny SMTP server on a free loopback port, for tests that send real mail over a socket.

Enough of RFC 5321 for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT); recipients
in ``refuse`` get a 550, as a real server refuses an unknown mailbox.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


@dataclass
class SmtpSink:
    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)

    def start(self) -> SmtpSink:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="smtp-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_to]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        reader = conn.makefile("rb")
        envelope = {"from": "", "to": []}

        def reply(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        reply("220 sink ESMTP ready")
        try:
            while True:
                raw = reader.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if self._command(line[:4].upper(), line, envelope, reader, conn, reply):
                    return
        except OSError:
            return
        finally:
            reader.close()
            conn.close()

    def _command(self, verb, line, envelope, reader, conn, reply) -> bool:
        """Answer one SMTP command; True when the session ends (QUIT)."""
        if verb == "EHLO":
            conn.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == "HELO":
            reply("250 sink")
        elif verb == "MAIL":
            envelope["from"], envelope["to"] = _address(line), []
            reply("250 OK")
        elif verb == "RCPT":
            address = _address(line)
            if address in self.refuse:
                reply(f"550 5.1.1 <{address}>: mailbox unavailable")
            else:
                envelope["to"].append(address)
                reply("250 OK")
        elif verb == "DATA":
            reply("354 end with <CRLF>.<CRLF>")
            body = self._data(reader)
            with self._lock:
                self.messages.append(Received(envelope["from"], envelope["to"], body))
            reply("250 OK queued")
        elif verb in ("RSET", "NOOP"):
            reply("250 OK")
        elif verb == "QUIT":
            reply("221 bye")
            return True
        else:
            reply("502 command not implemented")
        return False

    @staticmethod
    def _data(reader) -> bytes:
        lines = []
        while True:
            chunk = reader.readline()
            if chunk in (b".\r\n", b".\n", b""):
                return b"".join(lines)
            lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)


def _address(line: str) -> str:
    start, end = line.find("<"), line.find(">")
    return line[start + 1 : end] if 0 <= start < end else ""
