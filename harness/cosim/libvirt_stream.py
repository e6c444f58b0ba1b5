# SPDX-License-Identifier: GPL-2.0-or-later
"""A remote domain's serial ports, through libvirt streams.

On another host the console log and the agent's unix socket would be files
there, so both serial ports are ptys that libvirt streams to us
(virDomainOpenConsole): the console into the local console.log, the agent's
port to one end of a local socketpair, whose other end the harness's Agent
reads and writes as it does the unix socket of a local guest.

The streams are non-blocking and driven by callbacks from libvirt's event
loop (cosim.libvirt_vm runs it in a thread), so no read here waits: a dead
connection ends in the stream's error callback, or in the keepalive that
LibvirtVM sets on remote connections."""
import socket
import threading

import libvirt

READ_EVENTS = (libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR |
               libvirt.VIR_STREAM_EVENT_HANGUP)
CHUNK = 65536


def open_serial(conn, dom, dev_name):
    """A non-blocking stream on the domain's pty serial port `dev_name`
    (serial0, serial1: libvirt's device aliases)."""
    stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
    dom.openConsole(dev_name, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    return stream


class _Pump:
    """Reads a stream in libvirt's event thread and hands the data to sink()."""

    def __init__(self, stream, sink):
        self._stream = stream
        self._sink = sink
        self._lock = threading.Lock()
        self.closed = False
        self._events = READ_EVENTS
        stream.eventAddCallback(self._events, self._on_event, None)

    def _on_event(self, stream, events, opaque):
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            self._drain()
        if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
            self._writable()
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self.close()

    def _drain(self):
        while not self.closed:
            try:
                data = self._stream.recv(CHUNK)
            except libvirt.libvirtError:
                self.close()
                return
            if data == -2:          # nothing more for now
                return
            if not data:            # the domain went away
                self.close()
                return
            self._sink(data)

    def _writable(self):
        pass

    def _want_writable(self, want):
        events = READ_EVENTS | (libvirt.VIR_STREAM_EVENT_WRITABLE if want else 0)
        if events != self._events and not self.closed:
            self._events = events
            self._stream.eventUpdateCallback(events)

    def close(self):
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for step in (self._stream.eventRemoveCallback, self._stream.abort):
            try:
                step()
            except libvirt.libvirtError:
                pass            # the stream already ended on the other side
        self._closed()

    def _closed(self):
        pass


class ConsoleCopy(_Pump):
    """The console stream appended to a local file (the run's console.log),
    flushed at once: ConsoleLog reads it while the guest runs."""

    def __init__(self, stream, path):
        self._file = open(path, "ab")
        super().__init__(stream, self._write)

    def _write(self, data):
        if not self._file.closed:       # kill() may close it under a late callback
            self._file.write(data)
            self._file.flush()

    def _closed(self):
        self._file.close()


class SocketBridge(_Pump):
    """The agent's stream joined to a socketpair: `channel` is the end for
    the harness (cosim.agent.Agent), the other end is served here.

    A pty hands the guest's output over a few bytes at a time, and a local
    socket refuses a write after a few hundred that nobody has read, however
    small.  What the socket cannot take yet waits in `_backlog` until it is
    writable again.  Not reading the stream meanwhile would gain nothing:
    libvirt's client queues incoming stream data without bound either way."""

    def __init__(self, stream):
        self.channel, self._end = socket.socketpair()
        self._end.setblocking(False)
        self._pending = b""             # from the harness, not yet taken by the stream
        self._backlog = bytearray()     # from the guest, not yet taken by the socket
        self._socket_writable_wanted = False
        self._handle = libvirt.virEventAddHandle(self._end.fileno(),
                                                 libvirt.VIR_EVENT_HANDLE_READABLE,
                                                 self._on_socket, None)
        super().__init__(stream, self._to_socket)

    def _to_socket(self, data):
        self._backlog += data
        self._flush_backlog()

    def _flush_backlog(self):
        try:
            while self._backlog:
                sent = self._end.send(self._backlog)
                del self._backlog[:sent]
        except BlockingIOError:
            pass
        except OSError:         # the harness went away
            self.close()
            return
        want = bool(self._backlog)
        if want != self._socket_writable_wanted:
            self._socket_writable_wanted = want
            libvirt.virEventUpdateHandle(self._handle, libvirt.VIR_EVENT_HANDLE_READABLE |
                                         (libvirt.VIR_EVENT_HANDLE_WRITABLE if want else 0))

    def _on_socket(self, watch, fd, events, opaque):
        if events & libvirt.VIR_EVENT_HANDLE_WRITABLE and not self.closed:
            self._flush_backlog()
        if self.closed or not events & (libvirt.VIR_EVENT_HANDLE_READABLE |
                                        libvirt.VIR_EVENT_HANDLE_HANGUP |
                                        libvirt.VIR_EVENT_HANDLE_ERROR):
            return
        try:
            data = self._end.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:            # the harness closed its end
            self.close()
            return
        self._pending += data
        self._writable()

    def _writable(self):
        while self._pending and not self.closed:
            try:
                sent = self._stream.send(self._pending)
            except libvirt.libvirtError:
                self.close()
                return
            if sent == -2:      # the stream is full: go on when it says so
                self._want_writable(True)
                return
            self._pending = self._pending[sent:]
        self._want_writable(False)

    def _closed(self):
        libvirt.virEventRemoveHandle(self._handle)
        self._end.close()
