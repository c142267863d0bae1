from __future__ import annotations

import pytest

from readingcenter.hl7intake.listener import Listener


@pytest.fixture
def listener():
    """Our MLLP listener on a free port, in this process."""
    server = Listener("127.0.0.1", 0)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()
