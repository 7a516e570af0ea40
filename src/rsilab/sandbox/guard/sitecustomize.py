"""The sandbox's witness: loaded into every Python the self starts, before any of its code.

Shipped read-only into the sandbox by the harness and found through PYTHONPATH, so
Python's `site` imports it at start-up. It installs an audit hook (PEP 578; a hook can
never be removed) that writes each attempt the sandbox will deny (network, writes to
read-only paths, signals to processes outside the self, privileged programs) as a line
to a file descriptor whose file lives outside the sandbox, owned by the harness.

It is a witness, not a wall: the namespaces, mounts and limits contain the self whether
or not this file runs. What it cannot see: code that closes or overwrites the descriptor,
native code (ctypes, an exec'd non-Python program) and Pythons started with -S or a
cleared PYTHONPATH. Starting such programs is itself written down (`exec`).
The harness reads the file as untrusted bytes: a self can only add lines, never remove
the ones already written.
"""

import os
import sys

# The policy comes in one variable, fields split by \x1e and items by \x1f (no json: start-up time counts).
_POLICY = dict(f.split("=", 1) for f in os.environ.get("RSILAB_GUARD", "").split("\x1e") if "=" in f)
_FD = int(_POLICY.get("fd") or -1)
_WRITABLE = tuple(p for p in _POLICY.get("writable", "").split("\x1f") if p)  # directories the self may write under
_READONLY = frozenset(p for p in _POLICY.get("readonly", "").split("\x1f") if p)  # read-only mounts inside them
_BROKER = _POLICY.get("broker", "")
_PRIVILEGED = frozenset(
    {"mount", "umount", "unshare", "nsenter", "chroot", "pivot_root", "insmod", "modprobe", "setpriv",
     "su", "sudo", "capsh", "mknod", "iptables", "ip"}
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_LOCAL_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1"})
_MAX_LINES = 200
_state = {"busy": False, "lines": 0}


def _record(kind, detail):
    if _FD < 0 or _state["lines"] >= _MAX_LINES:
        return
    _state["lines"] += 1
    text = str(detail)[:300].replace("\n", " ").replace("\x1f", " ")
    line = f"{kind}\x1f{text}\x1f{os.getpid()}\n"
    try:
        os.write(_FD, line.encode("utf-8", "replace"))
    except OSError:
        pass  # closed by the self: what was written stays


def _path(value):
    if isinstance(value, int):
        return None  # an fd: its path was checked when it was opened
    try:
        return os.path.realpath(os.fsdecode(value))
    except (TypeError, ValueError, OSError):
        return None


def _writable(path):
    if path is None:
        return True
    for ro in _READONLY:
        if path == ro or path.startswith(ro + "/"):
            return False
    if path == "/dev/null" or path.startswith(("/dev/fd/", "/proc/self/fd/")):
        return True
    return any(path == root or path.startswith(root + "/") for root in _WRITABLE)


def _check_write(event, paths):
    for value in paths:
        path = _path(value)
        if not _writable(path):
            _record("write-denied", f"{event} {path}")


def _check_address(event, address):
    if isinstance(address, (str, bytes)):  # a Unix socket path
        path = _path(address)
        if path and path != _BROKER:
            _record("network", f"{event} unix:{path}")
        return
    if isinstance(address, tuple) and address:
        _record("network", f"{event} {address[0]}:{address[1] if len(address) > 1 else ''}")


def _check_kill(pid, sig):
    if pid == -1 or pid == 1 or (pid > 1 and not os.path.exists(f"/proc/{pid}")):
        _record("signal", f"kill({pid}, {sig}) of a process outside the self")


def _program(event, args):
    """The base name of the program an exec-like event starts."""
    if event == "os.system":
        words = os.fsdecode(args[0]).split()
        return os.path.basename(words[0]) if words else ""
    program = args[0]
    if program is None and event == "subprocess.Popen" and len(args) > 1:
        argv = args[1]
        program = argv.split()[0] if isinstance(argv, str) and argv.split() else (argv[0] if argv else "")
    return os.path.basename(os.fsdecode(program)) if isinstance(program, (str, bytes, os.PathLike)) else ""


def _hook(event, args):
    if _state["busy"]:
        return
    _state["busy"] = True
    try:
        if event == "open":
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            if flags & _WRITE_FLAGS or any(c in mode for c in "wax+"):
                _check_write("open", args[:1])
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                       "os.chflags", "os.setxattr", "os.removexattr", "shutil.rmtree"):
            _check_write(event, args[:1])
        elif event in ("os.rename", "os.link", "os.symlink"):
            _check_write(event, args[:2] if event == "os.rename" else args[1:2])
        elif event == "socket.__new__" and len(args) > 1 and args[1] in (2, 10, 17):  # AF_INET, AF_INET6, AF_PACKET
            _record("network", f"socket family {args[1]}")
        elif event in ("socket.connect", "socket.sendto", "socket.bind"):
            _check_address(event, args[1] if len(args) > 1 else None)
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
            if args and args[0] not in _LOCAL_HOSTS:
                _record("network", f"{event} {args[0]!r}")
        elif event in ("os.kill", "os.killpg"):
            _check_kill(int(args[0]), args[1])
        elif event in ("subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system"):
            name = _program(event, args)
            if name in _PRIVILEGED:
                _record("privileged-exec", f"{event} {name}")
    except Exception:  # the witness must never break the self
        pass
    finally:
        _state["busy"] = False


def _excepthook(kind, value, tb):
    # Limits show up in the self as exceptions: an uncaught one is the evidence.
    errno_ = getattr(value, "errno", None)
    if isinstance(value, MemoryError):
        _record("memory-limit", "MemoryError")
    elif errno_ == 27:  # EFBIG
        _record("file-size-limit", str(value))
    elif errno_ == 28:  # ENOSPC
        _record("disk-full", str(value))
    elif errno_ == 11 and kind is BlockingIOError:  # EAGAIN from fork
        _record("process-limit", str(value))
    _previous_excepthook(kind, value, tb)


for _site in [p for p in _POLICY.get("site", "").split("\x1f") if p]:  # the harness's site-packages, when a self needs them
    import site

    site.addsitedir(_site)

if _FD >= 0:
    sys.addaudithook(_hook)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    sys.dont_write_bytecode = True
