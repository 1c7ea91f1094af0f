# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
"""The Python binding's tests, printing TAP: every check on the thread and
memfd backends, and on the kernel backend when /dev/mpklink exists and we
are root (the channel is created with mpklink-grant, $MPKLINK_GRANT).

Run by build/python/tests/mpkshm_test, which sets PYTHONPATH to the
package of this build; the memfd backend needs $MPKSHM_BROKER.
"""

import contextlib
import errno
import gc
import os
import subprocess
import sys
import threading
import time
import traceback

import mpkshm

_counter = [0]


def chan_name(backend):
    _counter[0] += 1
    return "pyt-%d-%s-%d" % (os.getpid(), backend, _counter[0])


class Backend:
    """Opens pairs of endpoints of fresh channels on one backend."""

    def __init__(self, name):
        self.name = name
        self.kernel_channels = []

    def open(self, chan, **kw):
        if self.name != "kernel":
            kw.setdefault("create", True)
        return mpkshm.Channel(chan, backend=self.name, **kw)

    def new_channel(self):
        chan = chan_name(self.name)
        if self.name == "kernel":
            grant = os.environ.get("MPKLINK_GRANT", "mpklink-grant")
            for args in (["create", chan, "--size", "256K", "--members", "8"],
                         ["grant", chan, "uid=0", "--rights", "rw"]):
                subprocess.run([grant] + args, check=True,
                               stdout=subprocess.DEVNULL)
            self.kernel_channels.append(chan)
        return chan

    @contextlib.contextmanager
    def pair(self, a_kw=None, b_kw=None):
        chan = self.new_channel()
        with self.open(chan, **(a_kw or {})) as a, \
                self.open(chan, **(b_kw or {})) as b:
            yield a, b

    def cleanup(self):
        grant = os.environ.get("MPKLINK_GRANT", "mpklink-grant")
        for chan in self.kernel_channels:
            subprocess.run([grant, "destroy", chan], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def serving(server, handler):
    """server.serve(handler) in a thread; yields a list that gets the
    exception serve() raised, if any."""
    raised = []

    def run():
        try:
            server.serve(handler)
        except BaseException as e:  # noqa: B902 - the test inspects it
            raised.append(e)
    t = threading.Thread(target=run)
    t.start()
    try:
        yield raised
    finally:
        server.serve_stop()
        t.join(10)


def raises(exc_type, fn, err=None):
    try:
        fn()
    except exc_type as e:
        if err is not None and getattr(e, "errno", None) != err:
            raise AssertionError("%r: errno %r, expected %d" %
                                 (e, getattr(e, "errno", None), err))
        return e
    raise AssertionError("no %s raised" % exc_type.__name__)


# --- the checks: each takes a Backend and raises on failure ---------------

def check_context_manager(be):
    chan = be.new_channel()
    with be.open(chan) as ch:
        assert not ch.closed
        ch_info = ch.info()
        assert ch_info.backend == be.name, ch_info
        assert ch_info.rights == mpkshm.RIGHT_READ | mpkshm.RIGHT_WRITE
    assert ch.closed
    raises(ValueError, ch.info)
    ch.close()  # twice: nothing


def check_send_recv(be):
    with be.pair() as (a, b):
        a.send(b"hello", dest=b.member_id)
        a.send(bytearray(b"world"))
        data, msg = b.recv(timeout_ms=5000)
        assert data == b"hello" and msg.sender == a.member_id and msg.seq == 1, (data, msg)
        data, msg = b.recv(timeout_ms=5000)
        assert data == b"world" and msg.seq == 2, (data, msg)


def check_recv_large(be):
    with be.pair() as (a, b):
        big = os.urandom(200 * 1024)
        a.send(big)
        e = raises(OSError, lambda: b.recv(timeout_ms=5000, cap=1024),
                   errno.EMSGSIZE)
        assert e.strerror, e
        data, _ = b.recv(timeout_ms=5000)
        assert data == big, len(data)


def check_timeouts(be):
    with be.pair() as (a, b):
        e = raises(TimeoutError, lambda: b.recv(timeout_ms=20), errno.ETIMEDOUT)
        assert e.strerror == mpkshm.strerror(errno.ETIMEDOUT), e
        raises(TimeoutError, lambda: b.peek(timeout_ms=0), errno.ETIMEDOUT)
        raises(TimeoutError, lambda: a.find_member("nobody", 20), errno.ETIMEDOUT)
        raises(TimeoutError, lambda: a.call(b.member_id, b"x", timeout_ms=50),
               errno.ETIMEDOUT)


def check_peek(be):
    with be.pair() as (a, b):
        a.send(b"in place")
        with b.peek(timeout_ms=5000) as p:
            view = p.data
            assert isinstance(view, memoryview) and view.readonly
            assert bytes(view) == b"in place" and p.sender == a.member_id
        assert p.released
        raises(ValueError, lambda: view[0])
        raises(ValueError, lambda: bytes(p.data))
        raises(TimeoutError, lambda: b.recv(timeout_ms=0))  # consumed


def check_peek_views(be):
    with be.pair() as (a, b):
        a.send(b"abcdef")
        p = b.peek(timeout_ms=5000)
        part = p.data[2:4]
        raises(BufferError, p.release)
        assert bytes(part) == b"cd" and not p.released
        part.release()
        p.release()
        raises(TimeoutError, lambda: b.recv(timeout_ms=0))


def check_peek_gc(be):
    with be.pair() as (a, b):
        a.send(b"one")
        a.send(b"two")
        p = b.peek(timeout_ms=5000)
        assert bytes(p.data) == b"one"
        del p
        gc.collect()
        data, _ = b.recv(timeout_ms=5000)  # the window was released
        assert data == b"two", data


def check_call_serve(be):
    with be.pair(a_kw={"role": "server"}) as (srv, cli):
        clients = []

        def handler(req, client):
            clients.append(client)
            if req == b"forbidden":
                raise PermissionError(errno.EPERM, "not for you")
            return bytes(req).upper()
        with serving(srv, handler) as raised:
            sid = cli.find_member("server", 5000)
            assert cli.call(sid, b"abc", timeout_ms=5000) == b"ABC"
            assert cli.call(sid, b"x" * 100000, timeout_ms=5000, cap=100000) == b"X" * 100000
            raises(OSError, lambda: cli.call(sid, b"abc", timeout_ms=5000, cap=2),
                   errno.EMSGSIZE)
            raises(PermissionError, lambda: cli.call(sid, b"forbidden", timeout_ms=5000),
                   errno.EPERM)
            assert cli.call(sid, b"after", timeout_ms=5000) == b"AFTER"
        assert not raised, raised
        assert set(clients) == {cli.member_id}, clients


def check_handler_raises(be):
    with be.pair(a_kw={"role": "server"}) as (srv, cli):
        def handler(req, client):
            raise ValueError("a bug in the handler")
        with serving(srv, handler) as raised:
            sid = cli.find_member("server", 5000)
            raises(OSError, lambda: cli.call(sid, b"x", timeout_ms=5000),
                   errno.EREMOTEIO)
            for _ in range(500):
                if raised:
                    break
                time.sleep(0.01)
        assert len(raised) == 1 and isinstance(raised[0], ValueError), raised


def check_find_member_members(be):
    with be.pair(a_kw={"role": "server"}, b_kw={"role": "logger"}) as (a, b):
        assert b.find_member("server", 5000) == a.member_id
        assert a.find_member("logger", 5000) == b.member_id
        assert a.find_peer(5000) == b.member_id
        for _ in range(100):  # roles become visible shortly after joining
            ms = {m.member_id: m for m in a.members()}
            if ms.get(b.member_id) and ms[b.member_id].role:
                break
            time.sleep(0.01)
        assert set(ms) == {a.member_id, b.member_id}, ms
        assert ms[a.member_id].self and not ms[b.member_id].self
        assert ms[a.member_id].role == "server" and ms[b.member_id].role == "logger", ms
        raises(OSError, lambda: a.find_member("bad role!", 0), errno.EINVAL)


def check_event_loop(be):
    with be.pair() as (a, b):
        assert b.fileno() >= 0
        b.wait_prepare()
        a.send(b"ring")
        assert b.wait_prepare() is True
        assert b.recv(timeout_ms=0)[0] == b"ring"
        assert a.wait_prepare_send(16) is True


def check_gil_released(be):
    with be.pair() as (a, b):
        got = []
        t = threading.Thread(target=lambda: got.append(b.recv(timeout_ms=5000)))
        t.start()
        start, spins = time.monotonic(), 0
        while time.monotonic() - start < 0.2:
            spins += 1  # Python runs while the other thread waits in C
        a.send(b"late")
        t.join(10)
        assert got and got[0][0] == b"late" and spins > 1000, (got, spins)


def check_bad_names(be):
    for name in ("", "a/b", "x" * 64, "sp ace", "nul\0"):
        raises(OSError, lambda: be.open(name), errno.EINVAL)
    raises(TypeError, lambda: be.open(None))


def check_bad_data(be):
    with be.pair() as (a, b):
        raises(TypeError, lambda: a.send("a str is not bytes"))
    with be.pair(b_kw={"send_only": True}) as (a, b):
        raises(PermissionError, lambda: b.recv(timeout_ms=0), errno.EPERM)


CHECKS = [
    (check_context_manager, "open and close as a context manager; closed channel raises ValueError"),
    (check_send_recv, "send/recv round trip: data, sender, seq"),
    (check_recv_large, "recv: cap too small is EMSGSIZE and the message stays; no cap takes 200 KiB"),
    (check_timeouts, "recv, peek, find_member, call time out with TimeoutError, errno ETIMEDOUT"),
    (check_peek, "peek: read-only memoryview of the message; after release it raises ValueError"),
    (check_peek_views, "peek: release raises BufferError while a slice of .data lives"),
    (check_peek_gc, "peek: a Peeked collected unreleased releases its message"),
    (check_call_serve, "call/serve round trip; handler's OSError(EPERM) is the caller's PermissionError"),
    (check_handler_raises, "handler raising ValueError: caller gets EREMOTEIO, serve() re-raises"),
    (check_find_member_members, "find_member by role, find_peer, members() with self and roles"),
    (check_event_loop, "fileno() and wait_prepare()/wait_prepare_send() report a waiting message and room"),
    (check_gil_released, "a blocking recv releases the GIL"),
    (check_bad_names, "bad channel names raise OSError EINVAL"),
    (check_bad_data, "send of a str is TypeError; recv on a send-only endpoint PermissionError"),
]


def kernel_skip_reason():
    if not os.path.exists("/dev/mpklink"):
        return "no /dev/mpklink (mpklink.ko not loaded)"
    if os.geteuid() != 0:
        return "creating kernel channels needs root"
    return None


def main():
    backends = ["thread", "memfd", "kernel"]
    print("TAP version 13")
    print("1..%d" % (1 + len(CHECKS) * len(backends)))
    n, failed = 0, 0
    n += 1
    print("ok %d mpkshm imports, libmpkshm %s" % (n, mpkshm.version()))
    skip = kernel_skip_reason()
    for name in backends:
        be = Backend(name)
        for fn, desc in CHECKS:
            n += 1
            if name == "kernel" and skip:
                print("ok %d %s: %s # SKIP %s" % (n, name, desc, skip))
                continue
            try:
                fn(be)
                print("ok %d %s: %s" % (n, name, desc))
            except Exception:  # noqa: B902 - any failure is a "not ok"
                failed += 1
                print("not ok %d %s: %s" % (n, name, desc))
                for line in traceback.format_exc().splitlines():
                    print("# " + line)
            sys.stdout.flush()
        be.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
