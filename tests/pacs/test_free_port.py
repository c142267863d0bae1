"""Ports handed to Orthanc and the simulators: never the same one twice in a process."""

from __future__ import annotations

import socket

from readingcenter.pacs.orthanc_server import free_port


def test_free_port_never_hands_out_the_same_port_twice():
    # CI once got the same ephemeral port for an Orthanc's HTTP and DICOM listeners: the
    # kernel may reuse a port as soon as the probing socket closes. Ask often enough that a
    # repeat from the kernel is likely, and check every answer is new and bindable.
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
