# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
"""mpkshm: messages and request/response over MPKLink channels.

A Python binding of libmpkshm (mpkshm.h, Documentation/api.md):

    with mpkshm.Channel("wc", backend="memfd", create=True) as ch:
        ch.send(b"hello")
        data, msg = ch.recv()

Errors are OSError with the errno (e.errno) and mpkshm_strerror()'s text,
so that Python's subclasses apply: TimeoutError for ETIMEDOUT,
PermissionError for EPERM and EACCES, FileNotFoundError for ENOENT, ...
Timeouts are in milliseconds: 0 polls, a negative value waits forever.

Blocking calls release the GIL.  Waits without a limit made from the main
thread wait in slices, so that signal handlers (Ctrl-C) run meanwhile;
serve() runs its handler between requests, and only then can a signal
handler run there.

Zero copy: peek() returns a Peeked whose .data is a read-only memoryview
into channel memory, valid until its release() (or the end of its "with").
Release it in the thread that peeked, as the C API requires; a Peeked that
is garbage-collected unreleased is released then, which fails (and leaves
the message peeked until close()) if that happens in another thread.
"""

import collections
import errno as _errno
import sys
import threading
import weakref

from mpkshm._mpkshm import ffi, lib

__all__ = ["Channel", "Peeked", "Message", "Info", "Member", "TO_ALL",
           "version", "pku_supported", "strerror"]

TO_ALL = lib.MPKSHM_TO_ALL
RIGHT_READ = lib.MPKSHM_RIGHT_READ
RIGHT_WRITE = lib.MPKSHM_RIGHT_WRITE
PROT_PKU = lib.MPKSHM_PROT_PKU
PROT_KERNEL = lib.MPKSHM_PROT_KERNEL
PROT_SIGNED = lib.MPKSHM_PROT_SIGNED

_BACKENDS = {
    "kernel": lib.MPKSHM_BACKEND_KERNEL,
    "memfd": lib.MPKSHM_BACKEND_MEMFD,
    "thread": lib.MPKSHM_BACKEND_THREAD,
}
_BACKEND_NAMES = {v: k for k, v in _BACKENDS.items()}

# How long one slice of an unlimited wait in the main thread lasts.
_SLICE_MS = 200
# recv() without cap: the first buffer tried; a longer message gets one of
# its length.
_RECV_FIRST = 64 * 1024

Message = collections.namedtuple("Message", "sender sender_slot seq")
Message.__doc__ = "Who sent a received message: member id, slot, sequence number."
Info = collections.namedtuple(
    "Info", "backend rights protection pkey slot member_id max_members "
    "segment_size max_message protection_string")
Member = collections.namedtuple(
    "Member", "member_id slot rights pid uid self role public_key")

_raw_alloc = ffi.new_allocator(should_clear_after_alloc=False)


def version():
    """libmpkshm's version, "MAJOR.MINOR.PATCH"."""
    return ffi.string(lib.mpkshm_version()).decode()


def pku_supported():
    """Whether this CPU has protection keys and the kernel enabled them."""
    return bool(lib.mpkshm_pku_supported())


def strerror(err):
    """mpkshm_strerror(): what an errno means for a channel."""
    return ffi.string(lib.mpkshm_strerror(err)).decode()


def _error(err):
    err = abs(err)
    return OSError(err, strerror(err))


def _check(ret):
    if ret < 0:
        raise _error(ret)
    return ret


def _cstr(s, what):
    """A str or bytes argument as a char[] (NUL inside: EINVAL)."""
    if isinstance(s, str):
        s = s.encode()
    if not isinstance(s, bytes):
        raise TypeError("%s must be str or bytes" % what)
    if b"\0" in s:
        raise _error(_errno.EINVAL)
    return ffi.new("char[]", s)


def _sliced(fn, timeout_ms):
    """Calls fn(timeout) until it is not ETIMEDOUT or the time is up.

    fn must be a wait whose timeout loses nothing.  Only an unlimited wait
    in the main thread is sliced: elsewhere no signal handler would run.
    """
    if timeout_ms >= 0 or threading.current_thread() is not threading.main_thread():
        return fn(timeout_ms)
    while True:
        ret = fn(_SLICE_MS)
        if ret != -_errno.ETIMEDOUT:
            return ret
        # Back in Python: pending signal handlers run here.


class Peeked:
    """A message received in place (Channel.peek()).

    .data is a read-only memoryview into the sender's segment; .sender,
    .sender_slot and .seq describe it.  release() consumes the message and
    releases .data (using it then raises ValueError).  Views made from .data
    (slices, memoryview(data)) must be released first: release() raises
    BufferError while any lives, and the message stays peeked meanwhile.
    """

    def __init__(self, channel, msg):
        result = []
        ch = channel._ch
        # The destructor runs once: at release(), or when the last view of
        # the memory is gone.  It holds the Channel, which so stays open.
        def _release(_, msg=msg, result=result, channel=channel):
            result.append(lib.mpkshm_release(ch, msg))
            channel._windows -= 1
        channel._windows += 1
        self._keep = ffi.gc(ffi.cast("char *", msg.data), _release)
        self._buf = ffi.buffer(self._keep, msg.len)
        self._result = result
        self.sender = msg.sender
        self.sender_slot = msg.sender_slot
        self.seq = msg.seq
        view = memoryview(self._buf)
        self.data = view.toreadonly()
        view.release()
        channel._peeks.add(self)

    @property
    def released(self):
        return self._keep is None

    def release(self):
        """Consumes the message.  ECONNRESET, ENOBUFS: what was read of it
        may not be what was sent (mpkshm_release(3)): discard it."""
        if self._keep is None:
            return
        self.data.release()
        # Our reference and getrefcount's argument: any more are views.
        if sys.getrefcount(self._buf) > 2:
            raise BufferError("views of the peeked message are still in use: "
                              "release them before the message")
        self._buf = None
        keep, self._keep = self._keep, None
        ffi.release(keep)
        _check(self._result[0])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __len__(self):
        return len(self.data)


class _ServeState:
    def __init__(self, channel, handler):
        self.channel = channel
        self.handler = handler
        self.exception = None
        self.stop_after_reply = False


@ffi.def_extern()
def _mpkshm_py_handler(arg, req):
    state = ffi.from_handle(arg)
    channel = state.channel
    ch = channel._ch
    tls = channel._serving
    outer, tls.state = getattr(tls, "state", None), state
    try:
        data = ffi.buffer(req.data, req.len)[:]
        reply = state.handler(data, req.client)
        if reply is None:
            return 0
        buf = ffi.from_buffer(reply)
        return lib.mpkshm_reply(ch, req, buf, len(buf))
    except OSError as e:
        if e.errno and 0 < e.errno < 4096:
            return -e.errno
        state.exception = e
    except BaseException as e:
        state.exception = e
    finally:
        tls.state = outer
        if state.stop_after_reply:
            lib.mpkshm_serve_stop(ch)
    # Anything else the handler raised stops serving and is raised again by
    # serve(); its caller gets EREMOTEIO.
    lib.mpkshm_serve_stop(ch)
    return -_errno.EREMOTEIO


class Channel:
    """An endpoint of the channel NAME (mpkshm_open(3)); close() leaves.

    backend: "kernel" (default), "memfd" or "thread".  create: create a
    memfd or thread channel if absent, with segment_size and max_members.
    role: what find_member() finds this endpoint by.  send_only: never
    receives (readers bound every writer: say so).  The other keywords are
    mpkshm_options' fields of the same name.
    """

    def __init__(self, name, backend="kernel", *, create=False,
                 segment_size=None, max_members=None, role=None, spin_us=None,
                 send_only=False, keep_dumpable=False, secret_key_path=None,
                 close_timeout_ms=None, open_timeout_ms=None,
                 max_request_size=None, reply_timeout_ms=None,
                 max_response_size=None):
        self._ch = None
        self._windows = 0
        self._peeks = weakref.WeakSet()
        self._serving = threading.local()
        if backend not in _BACKENDS:
            raise ValueError("backend must be one of %s" % ", ".join(_BACKENDS))
        o = ffi.new("struct mpkshm_options *")
        lib.mpkshm_options_init(o)
        o.backend = _BACKENDS[backend]
        o.flags = ((lib.MPKSHM_OPEN_CREATE if create else 0) |
                   (lib.MPKSHM_OPEN_SEND_ONLY if send_only else 0) |
                   (lib.MPKSHM_OPEN_KEEP_DUMPABLE if keep_dumpable else 0))
        keep = []
        if role is not None:
            keep.append(_cstr(role, "role"))
            o.role = keep[-1]
        if secret_key_path is not None:
            keep.append(_cstr(secret_key_path, "secret_key_path"))
            o.secret_key_path = keep[-1]
        for field, value in (("segment_size", segment_size),
                             ("max_members", max_members),
                             ("spin_us", spin_us),
                             ("close_timeout_ms", close_timeout_ms),
                             ("open_timeout_ms", open_timeout_ms),
                             ("max_request_size", max_request_size),
                             ("reply_timeout_ms", reply_timeout_ms),
                             ("max_response_size", max_response_size)):
            if value is not None:
                setattr(o, field, value)
        out = ffi.new("struct mpkshm_channel **")
        _check(lib.mpkshm_open(_cstr(name, "name"), o, out))
        self._ch = out[0]
        self.name = name

    # --- the endpoint -----------------------------------------------------

    def _handle(self):
        if self._ch is None:
            raise ValueError("the channel is closed")
        return self._ch

    def close(self):
        """Releases what is still peeked, then leaves (mpkshm_close(3))."""
        if self._ch is None:
            return
        for p in list(self._peeks):
            p.release()
        if self._windows:
            raise BufferError("views of peeked messages are still in use: "
                              "release them before closing")
        ch, self._ch = self._ch, None
        _check(lib.mpkshm_close(ch))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ch", None) is not None and not self._windows:
            ch, self._ch = self._ch, None
            lib.mpkshm_close(ch)

    @property
    def closed(self):
        return self._ch is None

    def info(self):
        """The endpoint: an Info (backend name, rights, member_id, ...)."""
        ch = self._handle()
        i = ffi.new("struct mpkshm_info *")
        _check(lib.mpkshm_info(ch, i))
        return Info(_BACKEND_NAMES.get(i.backend, i.backend), i.rights,
                    i.protection, i.pkey, i.slot, i.member_id, i.max_members,
                    i.segment_size, i.max_message,
                    ffi.string(lib.mpkshm_protection_string(ch)).decode())

    @property
    def member_id(self):
        return self.info().member_id

    def members(self):
        """The members now, as a list of Member."""
        ch = self._handle()
        room = 16
        while True:
            out = ffi.new("struct mpkshm_member[]", room)
            n = _check(lib.mpkshm_members(ch, out, room))
            if n <= room:
                break
            room = n
        return [Member(m.member_id, m.slot, m.rights, m.pid, m.uid,
                       bool(m.self), ffi.string(m.role).decode(),
                       bytes(m.public_key) if m.has_public_key else None)
                for m in out[0:n]]

    def find_peer(self, timeout_ms=-1):
        """Another member with the write right: its member id."""
        ch = self._handle()
        out = ffi.new("uint64_t *")
        _check(_sliced(lambda t: lib.mpkshm_find_peer(ch, out, t), timeout_ms))
        return out[0]

    def find_member(self, role, timeout_ms=-1):
        """Another member announcing ROLE (None: any writer): its id."""
        ch = self._handle()
        r = ffi.NULL if role is None else _cstr(role, "role")
        out = ffi.new("uint64_t *")
        _check(_sliced(lambda t: lib.mpkshm_find_member(ch, r, out, t),
                       timeout_ms))
        return out[0]

    def fileno(self):
        """mpkshm_fd(3): poll it in an event loop; the library owns it."""
        return _check(lib.mpkshm_fd(self._handle()))

    def wait_prepare(self):
        """True: something waits (do not sleep); False: sleep on fileno()."""
        return bool(_check(lib.mpkshm_wait_prepare(self._handle())))

    def wait_prepare_send(self, length):
        """True: room for LENGTH bytes (or a wait_prepare() event)."""
        return bool(_check(lib.mpkshm_wait_prepare_send(self._handle(),
                                                        length)))

    # --- messages -----------------------------------------------------------

    def send(self, data, dest=TO_ALL, timeout_ms=-1):
        """Copies DATA (bytes-like) to DEST, a member id or TO_ALL."""
        ch = self._handle()
        buf = ffi.from_buffer(data)
        _check(lib.mpkshm_send(ch, dest, buf, len(buf), timeout_ms))

    def recv(self, timeout_ms=-1, cap=None):
        """The next message: (bytes, Message).  With CAP, a longer message
        is EMSGSIZE and stays queued; without, any length is taken."""
        ch = self._handle()
        info = ffi.new("struct mpkshm_msg *")
        size = _RECV_FIRST if cap is None else cap
        while True:
            buf = _raw_alloc("char[]", max(size, 1))
            n = _sliced(lambda t: lib.mpkshm_recv(ch, buf, size, info, t),
                        timeout_ms)
            if n == -_errno.EMSGSIZE and cap is None and info.len > size:
                # It stays queued: take it with a buffer of its length.
                size = info.len
                timeout_ms = 0
                continue
            _check(n)
            return (ffi.buffer(buf, n)[:],
                    Message(info.sender, info.sender_slot, info.seq))

    def peek(self, timeout_ms=-1):
        """The next message, in place: a Peeked (release it)."""
        ch = self._handle()
        msg = ffi.new("struct mpkshm_msg *")
        _check(_sliced(lambda t: lib.mpkshm_peek(ch, msg, t), timeout_ms))
        return Peeked(self, msg)

    # --- request/response ---------------------------------------------------

    def call(self, server, request, timeout_ms=-1, cap=None):
        """Sends REQUEST to the member SERVER and returns its reply (bytes).

        TIMEOUT_MS bounds the whole call.  With CAP, a longer reply is
        EMSGSIZE; without, the library takes any up to max_response_size.
        The error the server's handler returned is raised here.
        """
        ch = self._handle()
        req = ffi.from_buffer(request)
        call = ffi.new("uint64_t *")
        rlen = ffi.new("size_t *")
        if cap is None:
            resp = ffi.new("void **")
            _check(lib.mpkshm_call_start(ch, server, req, len(req), ffi.NULL,
                                         0, timeout_ms, call))
            wait = lambda t: lib.mpkshm_call_take(ch, call[0], resp, rlen, t)
        else:
            buf = _raw_alloc("char[]", max(cap, 1))
            _check(lib.mpkshm_call_start(ch, server, req, len(req), buf, cap,
                                         timeout_ms, call))
            wait = lambda t: lib.mpkshm_call_wait(ch, call[0], rlen, t)
        # The call's own timeout (ETIMEDOUT) ends it; the main thread waits
        # in slices (EAGAIN: not yet) so that signal handlers run, and a
        # call that one of them interrupts is cancelled.
        slice_ms = _SLICE_MS if threading.current_thread() is \
            threading.main_thread() else -1
        done = False
        try:
            ret = wait(slice_ms)
            while ret == -_errno.EAGAIN:
                ret = wait(slice_ms)
            done = True
        finally:
            if not done:
                lib.mpkshm_call_cancel(ch, call[0])
        _check(ret)
        if cap is None:
            try:
                return ffi.buffer(resp[0], rlen[0])[:]
            finally:
                lib.free(resp[0])
        return ffi.buffer(buf, rlen[0])[:]

    def serve(self, handler):
        """Serves requests until serve_stop() (mpkshm_serve(3)).

        handler(request: bytes, client_id) returns the reply (bytes-like, or
        None: empty); it runs in the thread that called serve().  The
        request is a copy (zero copy is peek()'s).  OSError it raises is the caller's error (errno);
        anything else it raises stops serving, the caller gets EREMOTEIO,
        and serve() raises it again.
        """
        ch = self._handle()
        state = _ServeState(self, handler)
        arg = ffi.new_handle(state)
        ret = lib.mpkshm_serve(ch, lib._mpkshm_py_handler, arg)
        if state.exception is not None:
            raise state.exception
        _check(ret)

    def serve_stop(self):
        """Makes every serve() on this endpoint return.  From a handler, it
        does so once that handler's reply is sent."""
        ch = self._handle()
        state = getattr(self._serving, "state", None)
        if state is not None:
            state.stop_after_reply = True
        else:
            lib.mpkshm_serve_stop(ch)
