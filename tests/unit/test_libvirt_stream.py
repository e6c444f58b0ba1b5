# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent's bridge between a libvirt stream and the harness's socket:
what the guest sends reaches the harness whole, however small the pieces
and however far behind the harness reads."""
import select
import threading
import time

import libvirt
import pytest

from cosim import libvirt_stream, libvirt_vm


class FakeStream:
    """A console stream whose data the test hands over piece by piece, its
    callbacks run on libvirt's event thread as a real stream's are."""

    def __init__(self):
        self.pieces = []
        self.sent = b""
        self.on_event = None

    def eventAddCallback(self, events, cb, opaque):
        self.on_event = cb

    def eventUpdateCallback(self, events):
        pass

    def eventRemoveCallback(self):
        pass

    def abort(self):
        pass

    def recv(self, size):
        return self.pieces.pop(0) if self.pieces else -2

    def send(self, data):
        self.sent += data
        return len(data)

    def readable(self):
        """Tell the bridge there is data, on the event thread; wait for it."""
        done = threading.Event()

        def fire(timer, opaque):
            libvirt.virEventRemoveTimeout(timer)
            self.on_event(self, libvirt.VIR_STREAM_EVENT_READABLE, None)
            done.set()
        libvirt.virEventAddTimeout(0, fire, None)
        assert done.wait(10)


def wait_for(cond, seconds=10):
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cond()


def read_until(sock, size, seconds=10):
    got = b""
    deadline = time.monotonic() + seconds
    while len(got) < size and time.monotonic() < deadline:
        if select.select([sock], [], [], 0.1)[0]:
            data = sock.recv(65536)
            if not data:
                break
            got += data
    return got


@pytest.fixture
def bridge():
    libvirt_vm._start_event_loop()
    stream = FakeStream()
    bridge = libvirt_stream.SocketBridge(stream)
    bridge.stream = stream
    yield bridge
    bridge.channel.close()
    bridge.close()


def test_small_pieces_wait_for_a_slow_reader(bridge):
    """A serial port delivers a command's output a few bytes at a time; a
    local socket takes only a few hundred such pieces before its reader
    catches up.  Those the harness has not read yet must wait, not end the
    channel."""
    sent = bytes(i % 251 for i in range(20000))
    for i in range(0, len(sent), 3):        # nobody reads meanwhile
        bridge.stream.pieces.append(sent[i:i + 3])
        bridge.stream.readable()
    assert not bridge.closed
    assert read_until(bridge.channel, len(sent)) == sent
    bridge.channel.sendall(b"42 cmd\n")
    assert wait_for(lambda: bridge.stream.sent == b"42 cmd\n")
    bridge.channel.close()
    assert wait_for(lambda: bridge.closed)
