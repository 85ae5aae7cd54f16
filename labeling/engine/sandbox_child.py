"""The process a Python code LF runs in: it isolates itself, then applies the LF to the batches it is sent.

Started by labeling/engine/sandbox.py as `python -I -S -B sandbox_child.py <memory_mb> <cpu_total_s> <cpu_batch_s>
<guard> <empty root dir>` with an empty environment. Standard library only: with -S there is no site-packages, so neither
Django, the project's settings nor any installed package can be imported here.

Frames in (stdin): 4-byte little-endian length + marshal data; the first is the setup (source, labels,
field names, modules), each further one is a batch of columns; a zero length ends the run.
Frames out (stdout): b"C" + kind + 4-byte length + payload; kind I (isolation applied, JSON), V (int16 votes of
one batch) or E (the error that ended the run, JSON). The LF's own printing never reaches stdout.
"""

from __future__ import annotations

import array
import builtins
import json
import marshal
import os
import resource
import signal
import struct
import sys

TYPE_CHECKING = False  # typing itself is not imported: every import is start-up time here
if TYPE_CHECKING:
    from typing import NoReturn

NOBODY_FALLBACK = 65534
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
OUTPUT_CAP = 1 << 20  # what the LF may print per run; beyond that it is stopped
USER_FILE = "<lf>"

# Audit events user code may raise. Everything else (open, socket.*, os.system, os.fork, subprocess.Popen,
# ctypes.*, os.kill, sys._getframe, gc.*, ...) ends the run. tb_frame is allowed because the runner itself
# needs it to find the failing line, and marshal.loads because batches arrive marshalled; neither gives
# anything compile() and the OS limits do not already contain.
ALLOWED_EVENTS = frozenset({"compile", "exec", "builtins.id", "time.sleep", "marshal.loads", "array.__new__"})
ALLOWED_GETATTR = frozenset({"tb_frame"})

_state: dict[str, int | None] = {"row": None}  # the batch-local row being labeled, for messages


def _send(kind: bytes, payload: bytes) -> None:
    data = b"C" + kind + struct.pack("<I", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def _fail(info: dict) -> NoReturn:
    info.setdefault("row", _state["row"])
    try:
        _send(b"E", json.dumps(info).encode())
    finally:
        os._exit(3)


def _describe(event: str, args) -> str:
    if event == "open":
        return f"open the file {str(args[0])[:200]!r}; files are not available"
    if event.startswith("socket."):
        return "open a network connection or socket; there is no network"
    if event in ("os.system", "subprocess.Popen", "os.posix_spawn", "pty.spawn") or event.startswith(
        ("os.exec", "os.spawn")
    ):
        return "run a program"
    if event in ("os.fork", "os.forkpty", "_thread.start_new_thread"):
        return "start a process or thread"
    if event.startswith("ctypes."):
        return "call C code through ctypes"
    if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        return "send a signal"
    if event in ("os.putenv", "os.unsetenv"):
        return "change the environment"
    if event in ("object.__getattr__", "object.__setattr__", "object.__delattr__"):
        return f"reach the interpreter's internals ({args[1]!r})"
    return f"use {event}"


def _install_guard() -> None:
    # Closure state is immutable and the hook is referenced only by the interpreter, so code that escapes
    # the restricted builtins still cannot switch it off; audit hooks cannot be removed.
    allowed, allowed_attrs, describe, fail = ALLOWED_EVENTS, ALLOWED_GETATTR, _describe, _fail

    def hook(event, args):
        if event in allowed:
            return
        if event == "object.__getattr__" and args[1] in allowed_attrs:
            return
        if event == "import":
            raise ImportError(f"module {args[0]!r} is not available in a labeling function", name=args[0])
        what = describe(event, args)
        try:
            fail({"kind": "refused", "what": what})
        finally:
            raise PermissionError(f"refused: {what}")

    sys.addaudithook(hook)


class _Refused:
    """Stands in for os.environ: there is no environment to read."""

    def __getattr__(self, name):
        raise PermissionError("the environment is not available in a labeling function")

    def _no(self, *args, **kwargs):
        raise PermissionError("the environment is not available in a labeling function")

    __getitem__ = __contains__ = __iter__ = __len__ = __repr__ = _no


class _CappedOutput:
    """sys.stdout/sys.stderr for the LF: printing is allowed, but only so much of it."""

    def __init__(self):
        self.size = 0

    def write(self, text):
        self.size += len(text)
        if self.size > OUTPUT_CAP:
            _fail({"kind": "output", "limit": f"{OUTPUT_CAP >> 20} MB"})
        return len(text)

    def flush(self):
        pass


def _isolate(memory_mb: int, cpu_total: int, root: str) -> dict:
    """The OS-level layers; each is kept even if the Python-level guard were bypassed."""
    done = {"network_namespace": False, "filesystem": False, "user": os.getuid(), "no_new_privs": False}
    parent = os.getppid()
    libc = None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        done["no_new_privs"] = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        # As root a bare network namespace works; otherwise try an unprivileged user namespace with one.
        flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
        done["network_namespace"] = libc.unshare(flags) == 0
        del ctypes
        sys.modules.pop("ctypes", None)
        sys.modules.pop("_ctypes", None)
    except (ImportError, OSError, AttributeError):
        libc = None
    uid = gid = NOBODY_FALLBACK
    if os.geteuid() == 0:
        try:
            import pwd

            uid, gid = pwd.getpwnam("nobody")[2:4]
        except (ImportError, KeyError):
            pass
    # An empty directory the process cannot write to becomes its whole file system: no /tmp to write in,
    # no /proc to read, no socket file to find (possible as root, or inside the user namespace).
    if root:
        try:
            os.chroot(root)
            os.chdir("/")
            done["filesystem"] = True
        except OSError:
            pass
    if os.geteuid() == 0 and os.getuid() == 0:
        # RLIMIT_NPROC is counted per real uid and root ignores it: leave root first.
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        done["user"] = os.getuid()
    if libc is not None:
        # Die with the worker that started us (a killed worker cannot enforce our deadline any more). Set
        # after the change of user, which clears it; then make sure the parent did not die in between.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    del libc
    limits = {
        resource.RLIMIT_AS: memory_mb << 20,
        resource.RLIMIT_FSIZE: 0,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_total, cpu_total + 2))
    return done


def _read_frame():
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack("<I", head)
    if not size:
        return None
    data = sys.stdin.buffer.read(size)
    return marshal.loads(data)


class _Field:
    """A sample field as an attribute; a non-data descriptor, so `x.text = ...` (preprocessors) works."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __get__(self, obj, owner, _item=tuple.__getitem__):
        if obj is None:
            return self
        return _item(obj, self.index)


def _sample_class(names):
    positions = {name: i for i, name in enumerate(names)}

    def __getitem__(self, key, _item=tuple.__getitem__):
        if type(key) is str:
            if key in self.__dict__:
                return self.__dict__[key]
            if key in positions:
                return _item(self, positions[key])
            raise KeyError(key)
        return _item(self, key)

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def keys(self):
        return list(names)

    def __repr__(self):
        return "Sample(" + ", ".join(f"{n}={self[n]!r}" for n in names) + ")"

    body = {"__getitem__": __getitem__, "get": get, "keys": keys, "__repr__": __repr__}
    for i, name in enumerate(names):
        if name.isidentifier() and not name.startswith("__"):
            body[name] = _Field(i)
    return type("Sample", (tuple,), body)


def _fake_snorkel():
    """Enough of snorkel.labeling / snorkel.preprocess for a pasted Snorkel LF to run unchanged."""
    module = type(sys)

    class LabelingFunction:
        def __init__(self, name, f, resources=None, pre=None):
            self.name, self._f, self._resources, self._pre = name, f, dict(resources or {}), list(pre or [])

        def __call__(self, x):
            for step in self._pre:
                x = step(x)
            return self._f(x, **self._resources)

        def __repr__(self):
            return f"LabelingFunction {self.name}"

    def labeling_function(name=None, resources=None, pre=None):
        if callable(name):  # used bare, as @labeling_function
            return LabelingFunction(name.__name__, name)
        return lambda f: LabelingFunction(name or f.__name__, f, resources, pre)

    def preprocessor(name=None, pre=None, memoize=False, memoize_key=None):
        def decorate(f):
            def run(x):
                for step in pre or []:
                    x = step(x)
                return f(x)

            run.__name__ = name or f.__name__
            return run

        if callable(name):
            f, name = name, None
            return decorate(f)
        return decorate

    top, labeling, preprocess = module("snorkel"), module("snorkel.labeling"), module("snorkel.preprocess")
    labeling.labeling_function, labeling.LabelingFunction = labeling_function, LabelingFunction
    preprocess.preprocessor = preprocessor
    top.labeling, top.preprocess = labeling, preprocess
    fake = {"snorkel": top, "snorkel.labeling": labeling, "snorkel.preprocess": preprocess}
    for name, mod in fake.items():
        mod.__getattr__ = _unavailable_in(name)  # type: ignore[attr-defined]
    return fake, LabelingFunction


class _Unavailable:
    """A Snorkel name a pasted script imports but an LF cannot use here (PandasLFApplier, say)."""

    def __init__(self, name):
        self._name = name

    def _refuse(self, *args, **kwargs):
        raise NotImplementedError(f"{self._name} is not available inside a labeling function")

    __call__ = _refuse

    def __getattr__(self, attr):
        self._refuse()


def _unavailable_in(module_name):
    # PEP 562: lets `from snorkel.labeling import PandasLFApplier, labeling_function` succeed, so a whole
    # pasted script loads; only using such a name fails, with its name.
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{module_name}.{name}")

    return __getattr__


def _user_builtins(allowed, companions, fake):
    modules = sys.modules
    available = ", ".join(sorted(allowed))
    importable = allowed | companions

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise ImportError("relative imports are not available in a labeling function")
        if name in fake:
            return fake[name] if fromlist else fake[name.partition(".")[0]]
        if name in importable:
            return modules[name] if fromlist else modules[name.partition(".")[0]]
        raise ImportError(
            f"module {name!r} is not available in a labeling function (available: {available})", name=name
        )

    def refuse_open(*args, **kwargs):
        raise PermissionError("files cannot be opened or written in a labeling function")

    table = dict(vars(builtins))
    for name in ("input", "breakpoint", "help", "exit", "quit", "copyright", "credits", "license"):
        table.pop(name, None)
    table["__import__"] = guarded_import
    table["open"] = refuse_open
    return table


def _user_line(exc, user_globals):
    """The line of the user's code nearest to where the exception was raised."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals is user_globals:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _exception_info(exc, user_globals, kind="exception"):
    try:
        text = str(exc)
    except Exception:  # a user exception whose __str__ fails
        text = ""
    error = type(exc).__name__ + (f": {text[:500]}" if text else "")
    if isinstance(exc, MemoryError):
        kind = "memory"
    return {"kind": kind, "error": error, "line": _user_line(exc, user_globals)}


def _find_lf(user_globals, lf_class):
    candidate = user_globals.get("lf")
    if callable(candidate):
        return candidate
    found = [v for v in user_globals.values() if isinstance(v, lf_class)]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(sorted(f.name for f in found))
        return f"the code defines several labeling functions ({names}); keep one, or name it lf"
    return (
        "no labeling function found: define `def lf(x):` or decorate one function with @labeling_function()"
    )


def _on_cpu_limit(signum, frame):
    _fail({"kind": "cpu"})


def _run(setup: dict, isolation: dict, cpu_s: float, guard: bool) -> None:
    source, labels, names, modules = setup["source"], setup["labels"], setup["names"], setup["modules"]
    # No new file descriptors from here on: no file, pipe or socket of any kind can be opened.
    os.closerange(3, 4096)
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    os.environ.clear()
    os.environ = _Refused()  # type: ignore[assignment]  # noqa: B003 - os.getenv and friends read this name
    sys.stdout = sys.stderr = _CappedOutput()
    signal.signal(signal.SIGPROF, _on_cpu_limit)
    signal.signal(signal.SIGXCPU, _on_cpu_limit)
    fake, lf_class = _fake_snorkel()
    builtins_table = _user_builtins(frozenset(modules), frozenset(setup["companions"]), fake)
    user_globals = {"__name__": "__lf__", "__builtins__": builtins_table}
    if guard:
        _install_guard()

    try:
        code = compile(source, USER_FILE, "exec")
        exec(code, user_globals)
    except BaseException as exc:
        info = _exception_info(exc, user_globals, kind="module")
        if isinstance(exc, SyntaxError):
            info["line"] = exc.lineno
        _fail(info)
    lf = _find_lf(user_globals, lf_class)
    if isinstance(lf, str):
        _fail({"kind": "setup", "message": lf})

    vote_of = {name: i for i, name in enumerate(labels)}
    vote_of.update({i: i for i in range(len(labels))})
    vote_of.update({-1: -1, None: -1})
    plain = (int, str, type(None))
    sample = _sample_class(names)
    _send(b"I", json.dumps(isolation).encode())

    while True:
        frame = _read_frame()
        if frame is None:
            break
        n, columns = frame
        rows = zip(*columns, strict=True) if columns else ((),) * n
        votes = array.array("h", bytes(2 * n))
        signal.setitimer(signal.ITIMER_PROF, cpu_s)
        try:
            for row, x in enumerate(map(sample, rows)):
                _state["row"] = row
                value = lf(x)
                vote = vote_of.get(value) if type(value) in plain else None
                if vote is None:
                    _fail({"kind": "return", "value": repr(value)[:200]})
                votes[row] = vote
        except BaseException as exc:
            _fail(_exception_info(exc, user_globals))
        signal.setitimer(signal.ITIMER_PROF, 0)
        _state["row"] = None
        _send(b"V", votes.tobytes())


def main() -> None:
    memory_mb, cpu_total, cpu_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    # The setup (trusted, from the parent) is read and the allowed modules loaded while the interpreter's files
    # are still readable: as `nobody` they may not be (a Python under /root, say).
    setup = _read_frame()
    for name in (*setup["modules"], *setup["companions"]):
        __import__(name)
    isolation = _isolate(memory_mb, cpu_total, root=sys.argv[5])
    try:
        _run(setup, isolation, cpu_s, guard=sys.argv[4] == "1")
    except MemoryError:
        _fail({"kind": "memory", "error": "MemoryError"})
    os._exit(0)


if __name__ == "__main__":
    main()
