# bp pyrun harness. Embedded in the Go binary and run as
# `python -I -S -c <this> MODE CONFIG`.
#
# CONFIG is JSON: {"site": ..., "preload": [...], "limits": {"data": BYTES,
# "nofile": N}} (no secret: it is on the command line). "site" is what the
# interpreter's `site` module sets up (sys.path, prefixes), probed once by Go;
# null when Go runs Python without -S. Under -S no
# .pth file runs its code in the server, so that every block's image stays
# small: a fork costs time in proportion to the memory the server has touched.
# For the same reason the server imports only what it needs (json, C modules);
# traceback and logging are imported by the blocks that use them.
#
# MODE "serve": fork server. fd 3 is a SOCK_SEQPACKET socket to Go. For each
#   "N" from Go it forks a spare child, which warms up and waits on a socket of
#   its own, and sends Go "N <pid>" with the other end of that socket
#   (SCM_RIGHTS). Go sends the spare, on that socket, the four descriptors of a
#   block: request pipe (read end), stdout, stderr and answer pipes (write
#   ends); the spare makes them its fds 0, 1, 2 and 3 and runs the block. With
#   "go" it then exits; with "keep" (a session's worker, IsolateRun) it waits
#   on the socket for the session's next block, until Go closes it. When
#   a child has exited the server kills the rest of its process group and sends
#   "X <pid> <wait status>". It sends "R" once at start, when warm, and
#   "E <message>" when it cannot fork. When a module to preload fails to
#   import it says why on stderr and exits with status 86. It never sees a
#   request (those travel on the child's own stdin pipe) and never runs user
#   code, beyond the imports of the modules it was asked to preload.
# MODE "child": run one block in this process (fresh mode): same fds 0-3.
#
# Confinement (Linux). Go starts these processes confined (Landlock,
# no_new_privs, no capabilities: package internal/sandbox); this harness adds
# what only a process can do for itself, through ctypes, before any block's
# code runs: every block process gets a Landlock domain of its own (so it can
# neither ptrace nor signal the fork server or another block, nor they it), is
# non-dumpable (no same-user process reads its memory or /proc/PID/fd), is a
# child subreaper (whatever it starts stays its descendant however it
# detaches: setsid, double fork), dies with the fork server (PDEATHSIG), and
# runs under its resource limits. When its code is done it kills its
# descendants. The fork server is a subreaper too and kills any child it did
# not fork itself: the descendants of a block that died before it could.
#
# Answer channel (fd 3): frames of kind (1 byte), length (4 bytes, big endian),
# payload. Kinds: o = stdout text, e = stderr text, m = mask value, d = done
# (JSON answer, last frame). sys.stdout / sys.stderr / logger write frames, so
# output and mask() are in one ordered stream and print can never corrupt the
# answer. Raw writes to fds 1 and 2 (C code, subprocesses) go to plain pipes.

import _signal
import _socket
import _thread
import builtins
import gc
import io
import os
import select
import struct
import sys

try:
    import _json  # the C half of json: json itself imports re, enum, ...
except ImportError:
    _json = None

try:
    import resource
except ImportError:  # not on every platform
    resource = None

_HARNESS_FILE = sys._getframe().f_code.co_filename
_CODE_FILE = "<code>"
_CHUNK = 1 << 16
_EXIT_PRELOAD = 86  # the server's exit status when a preload fails (Go knows it)

# The harness's own references to every builtin, taken before any block's
# code runs: a block that rebinds builtins.len or builtins.isinstance, by
# design or by accident, still gets its answer sent. (Names the harness
# defines itself come later and win.) Its module functions are taken the
# same way, below.
for _name, _value in list(vars(builtins).items()):
    if not _name.startswith("_"):
        globals().setdefault(_name, _value)


def _json_encoder(allow_nan):
    """A JSON encoder made of json's C accelerator alone, which a block
    cannot change (json.dumps, JSONEncoder and their helpers are Python
    attributes it can rebind), and which costs a fresh block no import of
    json and re."""
    make = getattr(_json, "make_encoder", None)
    escape = getattr(_json, "encode_basestring_ascii", None)
    if make is None or escape is None:
        import json

        return json.JSONEncoder(allow_nan=allow_nan).encode
    join = "".join

    def default(o):
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    def encode(o):
        # A new encoder (and so markers dict) per value, as JSONEncoder does:
        # one that failed part-way keeps stale circular-reference marks.
        return join(make({}, default, escape, None, ":", ",", False, False, allow_nan)(o, 0))

    return encode


def _json_decoder():
    """json.loads of the C accelerator alone (see _json_encoder)."""
    if getattr(_json, "make_scanner", None) is None:
        import json

        return json.loads

    class context:  # what the scanner reads of a JSONDecoder
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__

    scan = _json.make_scanner(context)
    blank = " \t\n\r"

    def loads(s):
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        start = len(s) - len(s.lstrip(blank))
        try:
            value, end = scan(s, start)
        except StopIteration:
            raise ValueError("Expecting value at character %d" % start) from None
        if s[end:].strip(blank):
            raise ValueError("Extra data at character %d" % end)
        return value

    return loads


_dumps = _json_encoder(True)
_strict = _json_encoder(False)
_loads = _json_decoder()
_header = struct.Struct(">cI").pack
_write = os.write
_read = os.read
_exit = os._exit
_closerange = os.closerange
_dup2 = os.dup2
_close = os.close
_kill = os.kill
_waitpid = os.waitpid
_listdir = os.listdir
_fork = os.fork
_getpid = os.getpid


_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_ACCESS_FS_MAKE_BLOCK = 1 << 11
_LANDLOCK_SCOPE_ALL = 3  # abstract UNIX sockets and signals (ABI 6)
_SIGKILL = 9


class _Libc:
    """The few system calls Python's os module lacks (Linux only; None
    elsewhere, or without ctypes). Through _ctypes, the C half of ctypes:
    importing the ctypes package would cost every fresh block milliseconds
    for nothing it needs here."""

    def __init__(self):
        import _ctypes

        class long(_ctypes._SimpleCData):
            _type_ = "l"

        class function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = long

        class libc:
            _handle = _ctypes.dlopen(None, 0)

        self._long = long
        self._prctl = function(("prctl", libc))
        self._syscall = function(("syscall", libc))

    def prctl(self, option, arg):
        L = self._long
        return self._prctl(L(option), L(arg), L(0), L(0), L(0)) == 0

    def own_domain(self):
        """Enter a Landlock domain of this process's own, nested in the one
        it was started in. Nested domains cannot reach each other or their
        parent (ptrace, /proc/PID/mem, signals, abstract sockets). It handles
        only the making of block devices, which no block needs: the file
        rules are bp's, enforced by the enclosing domain."""
        L = self._long
        syscall = self._syscall
        abi = syscall(L(_SYS_LANDLOCK_CREATE_RULESET), None, L(0), L(_LANDLOCK_CREATE_RULESET_VERSION))
        if abi < 1:
            return False
        attr = struct.pack("=QQQ", _LANDLOCK_ACCESS_FS_MAKE_BLOCK, 0, _LANDLOCK_SCOPE_ALL if abi >= 6 else 0)
        fd = syscall(L(_SYS_LANDLOCK_CREATE_RULESET), attr, L(len(attr)), L(0))
        if fd < 0:
            return False
        try:
            # Needs no_new_privs, which Go's sandbox set: unconfined, this fails.
            return syscall(L(_SYS_LANDLOCK_RESTRICT_SELF), L(fd), L(0)) == 0
        finally:
            os.close(fd)


def _load_libc():
    if sys.platform != "linux":
        return None
    try:
        return _Libc()
    except Exception:
        return None


_libc = None  # set by _main


def _confine_block(limits, server=0):
    """What a block's process does to itself before its code runs (see the
    head of this file). server is the pid of its parent, the fork server or
    the fresh block's supervisor; 0 for none."""
    if _libc is not None:
        if server:
            _libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL)
            if os.getppid() != server:
                _exit(0)  # the server died before the line above
        else:
            _libc.prctl(_PR_SET_DUMPABLE, 0)  # else inherited from the parent
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _libc.own_domain()
    _set_limits(limits)


def _set_limits(limits):
    if resource is None or not limits:
        return
    for name, key in (("RLIMIT_DATA", "data"), ("RLIMIT_NOFILE", "nofile")):
        n = limits.get(key) or 0
        if n > 0 and hasattr(resource, name):
            r = getattr(resource, name)
            try:
                _, hard = resource.getrlimit(r)
                if hard != resource.RLIM_INFINITY and hard < n:
                    n = hard
                resource.setrlimit(r, (n, n))
            except (OSError, ValueError):
                pass


def _supervise():
    """Fresh mode: fork the block's process and stay as its supervisor, a
    subreaper that runs no block code, so that what the block starts is
    killed even when the block dies abruptly (os._exit, a crash, its memory
    limit). The supervisor exits as the block did. It returns, in the
    block's process, the supervisor's pid (0 when it cannot supervise)."""
    if _libc is None or not _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1):
        return 0
    _libc.prctl(_PR_SET_DUMPABLE, 0)
    me = _getpid()
    pid = os.fork()
    if pid == 0:
        return me
    os.closerange(0, 4)  # the block's pipes are the block's
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            pass
    _kill_descendants()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
        os.kill(me, sig)
    _exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _children(pid):
    """The pids of pid's children (Linux /proc), [] when unknown."""
    kids = []
    try:
        tasks = _listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t), "rb") as f:
                kids.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return kids


def _kill_descendants():
    """Kill what this block started. As a subreaper, this process is the
    parent of every descendant whose own parent is gone: kill the children,
    reap them, and again, until none is left."""
    me = _getpid()
    for _ in range(100):
        kids = _children(me)
        if not kids:
            return
        for pid in kids:
            try:
                _kill(pid, _SIGKILL)
            except OSError:
                pass
        for pid in kids:
            try:
                _waitpid(pid, 0)
            except OSError:
                pass


def _site(site):
    """Set up what `site` would have: sys.path and prefixes as probed, and
    the builtins it adds (without running any .pth file's code)."""
    if not site:
        return
    sys.path[:] = site["path"]
    sys.prefix = site["prefix"]
    sys.exec_prefix = site["exec_prefix"]
    import _sitebuiltins

    eof = "Ctrl-D (i.e. EOF)"
    builtins.exit = _sitebuiltins.Quitter("exit", eof)
    builtins.quit = _sitebuiltins.Quitter("quit", eof)
    builtins.help = _sitebuiltins._Helper()
    builtins.copyright = _sitebuiltins._Printer("copyright", sys.copyright)
    builtins.credits = _sitebuiltins._Printer("credits", "See https://www.python.org/ for the people behind Python.")
    builtins.license = _sitebuiltins._Printer("license", "See https://www.python.org/psf/license/")


def _uses_name(code, name):
    """Whether code (or a function, class or comprehension in it) refers to
    the global name."""
    if name in code.co_names:
        return True
    for c in code.co_consts:
        if type(c) is type(code) and _uses_name(c, name):
            return True
    return False


def _configure_bp_logger(logging):
    """The "bp" logger of a block: INFO and up, "LEVEL: message" on the
    block's stderr, not passed to the root logger."""
    logger = logging.getLogger("bp")
    for h in list(logger.handlers):  # an earlier block's, in this process
        logger.removeHandler(h)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)


class _ConfiguringLoader:
    """A module's own loader, which runs a function on the module once it
    has run (see _ImportHook)."""

    def __init__(self, loader, configure):
        self._loader = loader
        self._configure = configure

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._configure(module)


class _ImportHook:
    """Sets up a module for the block as soon as whoever first imports it
    (the block's code, `logger`, a module it uses) has it, so that the
    harness need not import it itself: logging (0.5 MB more in every
    block's image) and linecache (tokenize and re: milliseconds more in
    every fresh block)."""

    def __init__(self):
        self.pending = {}  # module name -> function to run on it

    def want(self, name, configure):
        """Run configure on module name: now if it is imported, else when
        it is."""
        module = sys.modules.get(name)
        if module is not None:
            configure(module)
        else:
            self.pending[name] = configure

    def find_spec(self, name, path=None, target=None):
        # A name stays pending until its module has run (exec_module): a
        # mere find_spec (importlib.util.find_spec) loads nothing.
        configure = self.pending.get(name)
        if configure is None:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                def done(module, name=name, configure=configure):
                    self.pending.pop(name, None)
                    configure(module)

                spec.loader = _ConfiguringLoader(spec.loader, done)
                return spec
        return None


_hook = _ImportHook()
_code_lines = None  # the current block's source, for linecache


def _register_code(linecache):
    """Tracebacks show the block's lines: linecache knows its "<code>"."""
    if _code_lines is None:
        linecache.cache.pop(_CODE_FILE, None)
    else:
        linecache.cache[_CODE_FILE] = (len(_code_lines), None, _code_lines, _CODE_FILE)


def _bp_logger():
    import logging

    return logging.getLogger("bp")


class _LazyLogger:
    """The `logger` of a block whose code does not name it (it may still
    reach it through eval or globals()): logging is imported on first use."""

    def __getattr__(self, name):
        return getattr(_bp_logger(), name)

    def __setattr__(self, name, value):
        setattr(_bp_logger(), name, value)

    def __repr__(self):
        return repr(_bp_logger())


class _Channel:
    """The ordered answer channel of one block."""

    def __init__(self, fd):
        self.fd = fd
        self.owner = _getpid()
        self.lock = _thread.RLock()
        self.pending = {b"o": bytearray(), b"e": bytearray()}
        self.masks = []
        self.closed = False

    def _send(self, kind, data):
        frame = _header(kind, len(data)) + bytes(data)
        view = memoryview(frame)
        while view:
            n = _write(self.fd, view)
            view = view[n:]

    def out(self, kind, data):
        if _getpid() != self.owner:
            # A process forked by the block: its Python output goes raw, so
            # that it cannot interleave with the child's frames.
            fd = 1 if kind == b"o" else 2
            view = memoryview(bytes(data))
            while view:
                view = view[_write(fd, view):]
            return
        with self.lock:
            if self.closed:
                return
            other = self.pending[b"e" if kind == b"o" else b"o"]
            if other:
                # Keep stdout and stderr in the order the block wrote them.
                self._send(b"e" if kind == b"o" else b"o", other)
                del other[:]
            buf = self.pending[kind]
            buf += data
            if len(buf) >= _CHUNK:
                while buf:
                    self._send(kind, buf[:_CHUNK])
                    del buf[:_CHUNK]
                return
            i = buf.rfind(b"\n")
            if i >= 0:
                self._send(kind, buf[: i + 1])
                del buf[: i + 1]

    def flush(self, kind=None):
        if _getpid() != self.owner:
            return
        with self.lock:
            if self.closed:
                return
            for k in (b"o", b"e") if kind is None else (kind,):
                buf = self.pending[k]
                if buf:
                    self._send(k, buf)
                    del buf[:]

    def mask(self, value):
        data = value.encode("utf-8", "surrogateescape")
        if _getpid() != self.owner:
            if len(data) < 4000:  # one atomic pipe write
                _write(self.fd, _header(b"m", len(data)) + data)
            return
        with self.lock:
            if self.closed:
                return
            # Sent before anything still pending: whatever follows is masked.
            self._send(b"m", data)
            self.masks.append(value)

    def done(self, answer):
        if _getpid() != self.owner:
            return  # a process forked by the block ran off its end: not the answer
        with self.lock:
            if self.closed:
                return
            for k in (b"o", b"e"):
                buf = self.pending[k]
                if buf:
                    self._send(k, buf)
                    del buf[:]
            self._send(b"d", answer)
            self.closed = True


class _Binary(io.RawIOBase):
    """sys.stdout.buffer: bytes written as frames."""

    def __init__(self, chan, kind):
        self._chan = chan
        self._kind = kind

    def writable(self):
        return True

    def write(self, b):
        data = bytes(b)
        if data:
            self._chan.out(self._kind, data)
        return len(data)

    def flush(self):
        self._chan.flush(self._kind)


class _Text(io.TextIOBase):
    """sys.stdout / sys.stderr of a block: text written as frames, by line."""

    encoding = "utf-8"
    errors = "backslashreplace"
    newlines = None
    line_buffering = True
    mode = "w"

    def __init__(self, chan, kind, fd, name):
        self._chan = chan
        self._kind = kind
        self._fd = fd
        self._name = name
        self._buffer = _Binary(chan, kind)

    @property
    def buffer(self):
        return self._buffer

    @property
    def name(self):
        return self._name

    def writable(self):
        return True

    def readable(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if s:
            self._chan.out(self._kind, s.encode("utf-8", "backslashreplace"))
        return len(s)

    def flush(self):
        self._chan.flush(self._kind)

    def reconfigure(self, **_):
        pass  # always UTF-8, by line


def _read_all(fd):
    chunks = []
    while True:
        b = _read(fd, _CHUNK)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _strip(te, seen, summary):
    # Drop the harness's own frames from a traceback (and its chained ones).
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = summary.from_list([f for f in te.stack if f.filename != _HARNESS_FILE])
        for sub in getattr(te, "exceptions", None) or ():
            _strip(sub, seen, summary)
        _strip(te.__context__, seen, summary)
        te = te.__cause__


def _error(e):
    t = type(e)
    name = t.__qualname__
    if t.__module__ not in ("builtins", "__main__"):
        name = t.__module__ + "." + name
    try:
        message = str(e)
    except Exception:
        message = "<unprintable %s>" % name
    try:
        import traceback

        te = traceback.TracebackException(t, e, e.__traceback__)
        _strip(te, set(), traceback.StackSummary)
        tb = "".join(te.format())
    except Exception:
        tb = name + ": " + message + "\n"
    return {"type": name, "message": message, "traceback": tb}


def _fatal(message, chan):
    return _dumps({"fatal": message, "masks": chan.masks}).encode()


def _run(req, chan):
    code = req.get("code") or ""
    state = req.get("state")
    if state is None:
        state = {}
    box = []

    def set_output(value=None):
        """Set the result of this block (must be JSON-serializable)."""
        box[:] = [value]

    def mask(value):
        """Mask value (a secret found at run time) in every output of the run. Returns value."""
        if value is None:
            return value
        if isinstance(value, str):
            s = value
        elif isinstance(value, (bytes, bytearray)):
            s = bytes(value).decode("utf-8", "surrogateescape")
        else:
            s = str(value)
        if s:
            chan.mask(s)
        return value

    g = {}
    extra = req.get("globals")
    if isinstance(extra, dict):
        g.update(extra)
    g.update(
        __name__="__main__",
        __doc__=None,
        __builtins__=builtins,
        state=state,
        payload=req.get("payload"),
        result=req.get("result"),
        results=req.get("results"),
        vault=req.get("vault") or {},
        context=req.get("context"),
        item=req.get("item"),
        itemId=req.get("itemId"),
        set_output=set_output,
        mask=mask,
    )
    global _code_lines
    _code_lines = code.splitlines(True)
    _hook.want("linecache", _register_code)
    error = None
    try:
        compiled = compile(code, _CODE_FILE, "exec", dont_inherit=True)
        # Imported here, not in the fork server (see _ImportHook).
        if _uses_name(compiled, "logger"):
            g["logger"] = _bp_logger()
        else:
            g["logger"] = _LazyLogger()
        exec(compiled, g)
    except SystemExit as e:
        if e.code is not None and e.code != 0:
            error = _error(e)
    except BaseException as e:
        error = _error(e)

    ans = {"masks": chan.masks}
    st = g.get("state", state)
    if error is not None:
        ans["error"] = error
    if isinstance(st, dict):
        ans["state"] = st
    elif error is None:
        return _fatal("state must be a dict, not %s" % type(st).__name__, chan)
    if box:
        ans["has_value"] = True
        ans["value"] = box[0]
    try:
        return _strict(ans).encode()
    except Exception as e:
        first = e
    if error is not None:
        # The block failed anyway: report its error, without what cannot be sent.
        ans.pop("state", None)
        ans.pop("value", None)
        ans.pop("has_value", None)
        return _dumps(ans).encode()
    if box:
        try:
            _strict(box[0])
        except Exception as e:
            return _fatal("the value passed to set_output is not JSON-serializable: %s" % (e,), chan)
    for k, v in st.items():
        try:
            _strict({k: v})
        except Exception as e:
            return _fatal("state[%r] is not JSON-serializable: %s" % (k, e), chan)
    return _fatal("the answer is not JSON-serializable: %s" % (first,), chan)


def _warmup():
    """Run a dummy block through the harness's own code (no user code), so
    that the copy-on-write faults it causes are taken while this child
    waits for a block, not while it runs one (measured: 0.6 ms less)."""
    try:
        chan = _Channel(-1)
        _Text(chan, b"o", 1, "<stdout>")
        req = _loads(_dumps({
            "code": "x = state['k']\nset_output({'v': x, 'n': 1})", "vault": {"K": "v"},
            "state": {"k": [1, 2.5, "s", None, True]}, "payload": {"a": "b"}, "result": None,
            "results": {}, "context": {}, "item": None, "itemId": None,
        }).encode())
        _run(req, chan)
    except Exception:
        pass
    global _code_lines
    _code_lines = None
    _hook.want("linecache", _register_code)


def _flush_std():
    # What the block wrote to sys.__stdout__ / sys.__stderr__ (fds 1 and 2)
    # reaches its pipe before the answer, so that Go has read all of it
    # once it has the answer.
    for f in (sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except BaseException:
            pass


def _block(afd):
    """Run one block: request on fd 0, answer on fd afd, output on fds 1
    and 2. It closes them, kills what the block started and returns the
    process's exit status (0, or 70 when the harness itself failed)."""
    status = 0
    try:
        chan = _Channel(afd)
        err = _Text(chan, b"e", 2, "<stderr>")
        sys.stdout = _Text(chan, b"o", 1, "<stdout>")
        sys.stderr = err
        if _hook not in sys.meta_path:
            sys.meta_path.insert(0, _hook)
        # Imported by a .pth file (--python-site) or an earlier block of the
        # run, it is set up now; else when imported.
        _hook.want("logging", _configure_bp_logger)
        try:
            req = _loads(_read_all(0))
            if not isinstance(req, dict):
                raise ValueError("not a JSON object")
        except Exception as e:
            answer = _fatal("cannot read the request: %s" % (e,), chan)
        else:
            answer = _run(req, chan)
        _flush_std()
        chan.done(answer)
    except BaseException:
        status = 70
        try:
            import traceback

            _write(2, ("bp harness: " + traceback.format_exc()).encode("utf-8", "replace"))
        except BaseException:
            pass
        _flush_std()
    # Close the pipes before exiting: Go sees EOF now, not after the kernel
    # has torn down this process's memory.
    _closerange(0, 4)
    _kill_descendants()
    return status


def _worker(gofd, msg, fds, cmsg_space):
    """Run the blocks Go hands over its socket gofd with their four
    descriptors: one ("go"), or one after another for a session ("keep",
    IsolateRun) until Go closes the socket. Never returns."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, gofd)
    while True:
        keep = msg == b"keep"
        if not keep:
            sock.close()
        for i in range(4):
            _dup2(fds[i], i, inheritable=i < 3)
        for f in fds:
            if f > 3:
                _close(f)
        status = _block(3)
        if not keep or status != 0:
            _exit(status)
        # Hold fds 0-3 until the next block's pipes come, so that those
        # arrive above them.
        nul = os.open(os.devnull, os.O_RDWR)
        for i in range(4):
            if i != nul:
                _dup2(nul, i, inheritable=i < 3)
        if nul > 3:
            _close(nul)
        try:
            msg, anc, _, _ = sock.recvmsg(16, cmsg_space)
        except OSError:
            _exit(0)
        fds = _fds(anc)
        if not msg or len(fds) != 4:
            _exit(0)


_FDSIZE = struct.calcsize("i")


def _fds(anc):
    """The descriptors in a recvmsg's ancillary data."""
    fds = []
    for level, typ, data in anc:
        if level == _socket.SOL_SOCKET and typ == _socket.SCM_RIGHTS:
            n = len(data) - len(data) % _FDSIZE
            fds.extend(struct.unpack("%di" % (n // _FDSIZE), data[:n]))
    return fds


def _noop(*_):
    pass


def _serve(sfd, preload, limits):
    # In every block's image, where they cost a block nothing: most blocks
    # use json, and a traceback needs linecache. A fresh block imports only
    # what it uses.
    import json  # noqa: F401
    import linecache  # noqa: F401

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, sfd)
    me = _getpid()
    if _libc is not None:
        # Non-dumpable: a block can neither ptrace this process nor write its
        # memory (to change what later blocks run). A subreaper: a block's
        # descendants come here when it dies, to be killed (reap).
        _libc.prctl(_PR_SET_DUMPABLE, 0)
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    # The modules the user asked for (--python-preload): imported once
    # here, every block gets them for the price of its fork.
    for name in preload:
        try:
            __import__(name)
        except BaseException as e:
            # On stderr, not the socket: a message sent just before exiting
            # with Go's "N" unread is lost (the close resets the socket).
            msg = "preloading %s: %s: %s\n" % (name, type(e).__name__, e)
            _write(2, msg.encode("utf-8", "replace")[:4000])
            _exit(_EXIT_PRELOAD)
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    _signal.signal(_signal.SIGCHLD, _noop)
    _signal.set_wakeup_fd(wfd)
    children = set()  # pids of our children (spares and blocks)
    cmsg_space = _socket.CMSG_SPACE(8 * _FDSIZE)

    def shutdown():
        for pid in children:
            try:
                os.killpg(pid, _signal.SIGKILL)
            except OSError:
                pass
        # And whatever they started: as a subreaper this process inherits
        # each generation as the one above it dies.
        for _ in range(100):
            kids = _children(me)
            if not kids:
                break
            for pid in kids:
                try:
                    os.kill(pid, _SIGKILL)
                except OSError:
                    pass
            while True:
                try:
                    if os.waitpid(-1, 0)[0] <= 0:
                        break
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
        _exit(0)

    def send(msg, fds=None):
        try:
            if fds:
                sock.sendmsg([msg.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
            else:
                sock.send(msg.encode())
        except OSError:
            shutdown()

    def reap():
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == 0:
                break
            pid = info.si_pid
            # The child is a zombie: its pid (and so its group id) cannot be
            # reused yet. Kill whatever it left behind in its group.
            try:
                os.killpg(pid, _signal.SIGKILL)
            except OSError:
                pass
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                continue
            if pid in children:
                children.discard(pid)
                send("X %d %d" % (pid, status))
        # A child this server did not fork is a descendant of a block that
        # has ended (a block keeps its own as their subreaper while it runs).
        for pid in _children(me):
            if pid not in children:
                try:
                    os.kill(pid, _SIGKILL)
                except OSError:
                    pass

    def spare():
        # Fork a child ahead of need: it warms up, then waits on its own
        # socket, whose other end goes to Go, for the descriptors of the
        # block it will run.
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError as e:
            a.close()
            b.close()
            send("E fork: %s" % (e,))
            return
        if pid == 0:
            try:
                _confine_block(limits, me)
                os.setpgid(0, 0)
                _signal.set_wakeup_fd(-1)
                _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
                sock.detach()
                a_fd, b_fd = a.detach(), b.detach()
                # Our socket becomes fd 3, in place of the server's (so Go
                # sees EOF when the server dies), and what the server opened
                # for itself goes. What a preloaded module opened stays
                # open, as in any forked worker: closing it would hand its
                # number to the block's next open().
                os.dup2(b_fd, 3, inheritable=False)
                for fd in (a_fd, b_fd, rfd, wfd):
                    os.close(fd)
                _warmup()
                b2 = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, 3)
                msg, anc, _, _ = b2.recvmsg(16, cmsg_space)
                fds = _fds(anc)
                if not msg or len(fds) != 4:
                    _exit(0)
                # The socket leaves fd 3 to the block's answer pipe.
                gofd = os.dup(b2.detach())
                os.close(3)
                sys.argv[:] = [""]
                _worker(gofd, msg, fds, cmsg_space)
            finally:
                _exit(70)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        b.close()
        children.add(pid)
        send("N %d" % pid, [a.fileno()])
        a.close()

    # Once here, not in every child: the first compile() in a process
    # builds the ast module's 120 types (3 ms), and a dummy block warms the
    # harness's own caches.
    _warmup()
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    send("R")
    poller = select.poll()
    poller.register(sfd, select.POLLIN)
    poller.register(rfd, select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == rfd:
                try:
                    while _read(rfd, 512):
                        pass
                except BlockingIOError:
                    pass
                reap()
                continue
            try:
                msg, anc, _, _ = sock.recvmsg(256, cmsg_space)
            except InterruptedError:
                continue
            except OSError:
                shutdown()
            for f in _fds(anc):
                os.close(f)
            if not msg:
                shutdown()
            for c in msg.decode():
                if c == "N":
                    spare()
        reap()


def _main():
    global _libc
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    config = _loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    _site(config.get("site"))
    _libc = _load_libc()
    limits = config.get("limits") or {}
    if mode == "serve":
        _serve(3, config.get("preload") or [], limits)
    elif mode == "child":
        sys.argv[:] = [""]
        _confine_block(limits, _supervise())
        _exit(_block(3))
    else:
        sys.stderr.write("bp harness: unknown mode %r\n" % mode)
        _exit(2)


_main()
