"""Python code LFs: validated at save time, applied in sandboxed processes, a batch of rows at a time.

Isolation, from the outside in (details in sandbox_child.py):
- a fresh interpreter (`python -I -S -B`) with an empty environment and no site-packages: no settings, no
  secrets, no Django, nothing installed is importable;
- as root: a new network namespace (no network at all), an empty directory as its whole file system
  (chroot) and the unprivileged user `nobody`; otherwise an unprivileged user namespace with the same
  network namespace and chroot where the kernel allows it; no_new_privs in every case;
- rlimits: address space (memory), CPU time, file size 0 (no writes), no new file descriptors (so no file,
  pipe, TCP or Unix socket can be opened, whatever the code does), no processes or threads, no core dumps;
- an audit hook installed before the user's code runs that refuses opening files, sockets, running programs,
  forking, ctypes and importing, and ends the run with a message naming the attempt;
- restricted builtins: imports only of the allowed modules (and a small fake `snorkel.labeling`), no open();
- from this side: a wall-clock deadline per batch (the whole process group is killed), capped reads of the
  child's output, and every answer checked (frame kinds, sizes, vote range) before it is believed.
"""

from __future__ import annotations

import ast
import json
import marshal
import math
import os
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lfs import LFConfigError
from .matrix import ABSTAIN

CHILD = Path(__file__).with_name("sandbox_child.py")
DEFAULT_MODULES = ("re", "math", "string")
# Modules a project may add: pure computation, nothing that reaches files, processes or the network.
SAFE_MODULES = frozenset(
    {
        "re", "math", "string", "json", "datetime", "collections", "itertools", "functools", "operator",
        "statistics", "unicodedata", "difflib", "textwrap", "random", "fractions", "decimal", "heapq",
        "bisect", "html", "enum", "dataclasses", "typing", "calendar", "hashlib", "base64", "cmath", "time",
    }
)  # fmt: skip
# Modules the offered ones import lazily, from C, through the LF's own restricted __import__.
COMPANIONS = {"datetime": ("_strptime",), "time": ("_strptime",)}
FAKE_MODULES = frozenset({"snorkel", "snorkel.labeling", "snorkel.preprocess"})  # see sandbox_child.py
MAX_SOURCE_CHARS = 100_000
SETUP_GRACE_S = 10.0  # interpreter start-up on a loaded machine, before the first batch's deadline
STDERR_CAP = 64 << 10
ERROR_CAP = 64 << 10
INFO_CAP = 4 << 10
IN_FLIGHT = 2  # batches queued per process: the next one is in the pipe while the current one runs


class CodeLFError(LFConfigError):
    """A code LF that cannot be saved or whose application failed; the message is meant for its author."""

    def __init__(self, message: str, *, line: int | None = None, row: int | None = None, sample=None):
        super().__init__(message)
        self.message, self.line, self.row, self.sample = message, line, row, sample


# --- save-time checks -------------------------------------------------------------------------------------


def allowed_modules(modules: Sequence[str] = DEFAULT_MODULES) -> tuple[str, ...]:
    """The modules a code LF may import, checked against the ones that are safe to offer."""
    unsafe = sorted(set(modules) - SAFE_MODULES)
    if unsafe:
        raise CodeLFError(f"these modules cannot be offered to code LFs: {', '.join(unsafe)}")
    return tuple(dict.fromkeys(modules))


def _is_lf_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name == "labeling_function"


def _defined_lfs(tree: ast.Module) -> tuple[bool, list[str]]:
    has_lf, decorated = False, []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            has_lf = has_lf or node.name == "lf"
            if any(_is_lf_decorator(d) for d in node.decorator_list):
                decorated.append(node.name)
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            has_lf = has_lf or "lf" in names
            call = node.value
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "LabelingFunction":
                decorated.extend(names)
    return has_lf, decorated


def check_code_lf(source: str, modules: Sequence[str] = DEFAULT_MODULES) -> None:
    """Raise CodeLFError if the code cannot be a labeling function (syntax, imports, no LF); run nothing."""
    if not isinstance(source, str) or not source.strip():
        raise CodeLFError("give the code of the labeling function")
    if len(source) > MAX_SOURCE_CHARS:
        raise CodeLFError(f"the code can have at most {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source, "<lf>")
    except SyntaxError as exc:
        raise CodeLFError(f"line {exc.lineno}: {exc.msg}", line=exc.lineno) from None
    allowed = set(allowed_modules(modules))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else ["." * node.level + (node.module or "")]
        else:
            continue
        for name in names:
            if name not in allowed and name not in FAKE_MODULES:
                available = ", ".join(sorted(allowed))
                raise CodeLFError(
                    f"line {node.lineno}: module {name!r} is not available in a labeling function "
                    f"(available: {available})",
                    line=node.lineno,
                )
    has_lf, decorated = _defined_lfs(tree)
    if not has_lf and len(decorated) > 1:
        raise CodeLFError(
            f"the code defines several labeling functions ({', '.join(decorated)}); keep one, or name it lf"
        )
    if not has_lf and not decorated:
        raise CodeLFError(
            "no labeling function found: define `def lf(x):` or decorate one function with @labeling_function()"
        )


# --- data in ----------------------------------------------------------------------------------------------


def _columns(records) -> tuple[dict[str, list], int]:
    """One Python list per field, and the number of samples, from records, columns or an Arrow table."""
    if hasattr(records, "column_names") and hasattr(records, "column"):  # pyarrow.Table / RecordBatch
        names = [str(name) for name in records.column_names]
        return {
            name: _plain_column(records.column(i).to_pylist()) for i, name in enumerate(names)
        }, records.num_rows
    if isinstance(records, Mapping):
        columns = {str(name): _plain_column(values) for name, values in records.items()}
        lengths = {len(c) for c in columns.values()}
        if len(lengths) > 1:
            raise ValueError("every column must have the same length")
        return columns, lengths.pop() if lengths else 0
    fields = dict.fromkeys(key for record in records for key in record)
    return {str(name): _plain_column([record.get(name) for record in records]) for name in fields}, len(
        records
    )


PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain(value):
    """value in types marshal carries faithfully (it would send a numpy scalar as its raw bytes)."""
    if type(value) in PLAIN:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _plain_column(values) -> list:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    values = list(values)
    if set(map(type, values)) <= PLAIN:  # the usual case, checked without a Python call per value
        return values
    return [_plain(v) for v in values]


def _encode(obj) -> bytes:
    data = marshal.dumps(obj)
    return struct.pack("<I", len(data)) + data


# --- processes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class _Failure(Exception):
    """What ended a run, as reported by a child or seen from here; described for the user at the end."""

    def __init__(self, info: dict, batch: _Batch | None = None):
        super().__init__(info.get("kind"))
        self.info, self.batch = info, batch


class _Child:
    """One sandbox process and its three pipes, fed the batches of one application in turn."""

    def __init__(self, argv: list[str], setup: bytes):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},
            cwd="/",
            close_fds=True,
            start_new_session=True,  # its own process group, killed as a whole
        )
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.stdin, self.stdout, self.stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        for pipe in (self.stdin, self.stdout, self.stderr):
            os.set_blocking(pipe.fileno(), False)
        self.outgoing = bytearray(setup)
        self.incoming = bytearray()
        self.errors = bytearray()
        self.sent: list[_Batch] = []  # answers still to come, oldest first
        self.closing = False  # the end-of-run frame is queued
        self.open_outputs = 2
        self.started = time.monotonic()
        self.ready_at: float | None = None  # the setup, the user's module code included, is done
        self.last_answer: float | None = None

    @property
    def current(self) -> _Batch | None:
        return self.sent[0] if self.sent else None

    def deadline(self, timeout_s: float) -> float:
        # Each batch has timeout_s from the moment the previous answer (or the end of the setup) arrived.
        return (self.last_answer or self.ready_at or self.started + SETUP_GRACE_S) + timeout_s

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pipe in (self.stdin, self.stdout, self.stderr):
            try:
                pipe.close()
            except OSError:
                pass


class _Application:
    """One code LF over one set of records: batches, a few child processes, and the votes they send back."""

    def __init__(self, source: str, labels: list[str], columns: dict[str, list], n: int, *,
                 ids: list | None, timeout_s: float, cpu_s: float, memory_mb: int, batch_size: int,
                 workers: int, modules: tuple[str, ...], guard: bool):  # fmt: skip
        self.labels, self.columns, self.ids = labels, list(columns.values()), ids
        self.lines = source.splitlines()
        self.timeout_s, self.cpu_s, self.memory_mb = timeout_s, cpu_s, memory_mb
        self.todo = [_Batch(start, min(start + batch_size, n)) for start in range(0, n, batch_size)][::-1]
        self.workers = max(1, min(workers, len(self.todo)))
        self.votes = np.full(n, ABSTAIN, dtype=np.int16)
        self.isolation: list[dict] = []
        cpu_total = math.ceil(cpu_s * (len(self.todo) + 1))  # per process; each batch also has cpu_s alone
        self.argv = [
            sys.executable, "-I", "-S", "-B", str(CHILD),
            str(memory_mb), str(cpu_total), repr(float(cpu_s)), "1" if guard else "0",
        ]  # fmt: skip
        self.setup = _encode(
            {
                "source": source,
                "labels": labels,
                "names": list(columns),
                "modules": list(modules),
                "companions": sorted({c for m in modules for c in COMPANIONS.get(m, ())}),
            }
        )

    def run(self) -> np.ndarray:
        # The children's file system: an empty directory of ours, made afresh so nobody else can own it.
        root = tempfile.mkdtemp(prefix="chorus-lf-")
        try:
            return self._run([*self.argv, root])
        finally:
            os.rmdir(root)

    def _run(self, argv: list[str]) -> np.ndarray:
        children: list[_Child] = []
        selector = selectors.DefaultSelector()
        try:
            for _ in range(self.workers):
                child = _Child(argv, self.setup)
                children.append(child)
                self._feed(child)
                selector.register(child.stdin, selectors.EVENT_WRITE, (child, "in"))
                selector.register(child.stdout, selectors.EVENT_READ, (child, "out"))
                selector.register(child.stderr, selectors.EVENT_READ, (child, "err"))
            self._loop(selector, children)
        except _Failure as failure:
            for child in children:
                child.kill()
            raise self._describe(failure, children) from None
        except OSError as exc:  # no process could be started (out of processes or memory on this machine)
            raise CodeLFError(f"the sandbox could not start: {exc}") from exc
        finally:
            for child in children:
                child.kill()
            selector.close()
        return self.votes

    def _loop(self, selector: selectors.BaseSelector, running: list[_Child]) -> None:
        while running:
            now = time.monotonic()
            for child in running:
                if now > child.deadline(self.timeout_s):
                    raise _Failure({"kind": "timeout"}, child.current)
            wait = min(c.deadline(self.timeout_s) for c in running) - now
            for key, _ in selector.select(timeout=max(0.01, wait)):
                child, which = key.data
                if which == "in":
                    self._write(selector, child)
                elif not self._read(selector, child, which):
                    running.remove(child)

    def _feed(self, child: _Child) -> None:
        while self.todo and len(child.sent) < IN_FLIGHT:
            batch = self.todo.pop()
            child.outgoing += _encode((batch.size, [c[batch.start : batch.stop] for c in self.columns]))
            child.sent.append(batch)
        if not self.todo and not child.closing:
            child.outgoing += struct.pack("<I", 0)
            child.closing = True

    def _write(self, selector: selectors.BaseSelector, child: _Child) -> None:
        try:
            written = os.write(child.stdin.fileno(), child.outgoing[: 1 << 20])
        except BlockingIOError:
            return
        except BrokenPipeError:  # it stopped reading: its answer (or exit status) says why
            written = len(child.outgoing)
        del child.outgoing[:written]
        if not child.outgoing:
            selector.unregister(child.stdin)
            if child.closing:
                child.stdin.close()

    def _read(self, selector: selectors.BaseSelector, child: _Child, which: str) -> bool:
        """Take what the child sent; False once both its outputs are closed."""
        pipe = child.stdout if which == "out" else child.stderr
        try:
            data = os.read(pipe.fileno(), 1 << 20)
        except BlockingIOError:
            return True
        if not data:
            selector.unregister(pipe)
            child.open_outputs -= 1
            if child.open_outputs:
                return True
            if child.sent or not child.closing:
                child.proc.wait()
                raise _Failure({"kind": "exit"}, child.current)
            return False
        if which == "err":
            child.errors += data
            if len(child.errors) > STDERR_CAP:
                raise _Failure({"kind": "flood"})
            return True
        child.incoming += data
        had_outgoing = bool(child.outgoing)
        self._frames(child)
        if child.outgoing and not had_outgoing and not child.stdin.closed:
            selector.register(child.stdin, selectors.EVENT_WRITE, (child, "in"))
        return True

    def _frames(self, child: _Child) -> None:
        """Act on each complete frame; anything unexpected ends the run (the child is not trusted)."""
        buf = child.incoming
        while len(buf) >= 6:
            kind, (size,) = bytes(buf[:2]), struct.unpack("<I", buf[2:6])
            batch = child.current
            cap = {b"CI": INFO_CAP, b"CE": ERROR_CAP, b"CV": 2 * batch.size if batch else -1}.get(kind, -1)
            if size > cap or (kind == b"CV" and size != cap):
                raise _Failure({"kind": "protocol"})
            if len(buf) < 6 + size:
                return
            payload = bytes(buf[6 : 6 + size])
            del buf[: 6 + size]
            if kind == b"CE":
                raise _Failure(_json_object(payload) or {"kind": "protocol"}, batch)
            if kind == b"CI":
                child.ready_at = time.monotonic()
                self.isolation.append(_json_object(payload) or {})
                continue
            assert batch is not None
            votes = np.frombuffer(payload, dtype="=i2")
            if votes.size and (votes.min() < ABSTAIN or votes.max() >= len(self.labels)):
                raise _Failure({"kind": "protocol"})
            self.votes[batch.start : batch.stop] = votes
            child.sent.pop(0)
            child.last_answer = time.monotonic()
            self._feed(child)

    def _describe(self, failure: _Failure, children: list[_Child]) -> CodeLFError:
        info, batch = failure.info, failure.batch
        kind = info.get("kind")
        local = info.get("row")
        row = batch.start + local if batch and isinstance(local, int) and 0 <= local < batch.size else None
        sample = self.ids[row] if row is not None and self.ids is not None else None
        if row is None:
            where = (
                f" on rows {batch.start}-{batch.stop - 1}" if batch and kind in ("timeout", "exit") else ""
            )
        else:
            where = f" on sample {sample!r} (row {row})" if sample is not None else f" on sample {row}"
        line = info.get("line") if isinstance(info.get("line"), int) else None
        code = self.lines[line - 1].strip()[:120] if line and 0 < line <= len(self.lines) else ""
        at = (f"line {line}" + (f" (`{code}`)" if code else "")) if line else ""

        def said(key: str) -> str:
            return str(info.get(key, ""))[:500]

        if kind == "module":
            message = f"{at}: {said('error')}" if at else f"the code failed: {said('error')}"
        elif kind == "exception":
            message = f"{said('error')}" + (f" at {at}" if at else "") + where
        elif kind == "memory":
            message = f"the labeling function ran out of memory (limit {self.memory_mb} MB){where}"
            message += f" at {at}" if at else ""
        elif kind == "return":
            message = (
                f"the labeling function returned {said('value')}{where}; return a label name "
                f"({', '.join(self.labels)}), a label index (0-{len(self.labels) - 1}) or ABSTAIN (-1 or None)"
            )
        elif kind == "refused":
            message = f"the labeling function tried to {said('what')}{where}: refused"
        elif kind == "output":
            message = f"the labeling function printed more than {said('limit')}{where} and was stopped"
        elif kind == "setup":
            message = said("message")
        elif kind == "cpu":
            message = (
                f"the labeling function used more than {self.cpu_s:g} s of CPU time{where} and was stopped"
            )
        elif kind == "timeout":
            message = f"the labeling function took longer than {self.timeout_s:g} s{where} and was stopped"
        elif kind == "flood":
            message = "the labeling function wrote too much output and was stopped"
        elif kind == "exit":
            message = f"the labeling function {self._exit_reason(children, batch)}{where}"
        else:
            message = "the labeling function's sandbox sent an answer that cannot be read; it was stopped"
        return CodeLFError(message, line=line, row=row, sample=sample)

    @staticmethod
    def _exit_reason(children: list[_Child], batch: _Batch | None) -> str:
        child = next((c for c in children if batch in c.sent), children[0])
        status = child.proc.returncode
        reason = {
            -signal.SIGXCPU: "used more than its CPU time",
            -signal.SIGKILL: "was killed (CPU time or memory limit)",
            -signal.SIGXFSZ: "tried to write a file",
        }.get(status, f"stopped unexpectedly (exit status {status})")
        tail = child.errors[-300:].decode("utf-8", "replace").strip()
        return reason + (f" ({tail})" if tail else "")


def _json_object(payload: bytes) -> dict | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_code_lf(
    source: str,
    records,
    labels: Sequence[str],
    *,
    ids: Sequence | None = None,
    timeout_s: float = 30.0,
    cpu_s: float | None = None,
    memory_mb: int = 512,
    batch_size: int = 10_000,
    workers: int | None = None,
    modules: Sequence[str] = DEFAULT_MODULES,
    _guard: bool = True,
) -> np.ndarray:
    """Votes (int16, ABSTAIN where the LF abstains) of a code LF over records, or CodeLFError.

    records: a list of dicts, a mapping of field name to column, or a pyarrow Table. timeout_s bounds each
    batch in wall-clock time, cpu_s (default: timeout_s) in CPU time; memory_mb is each process's address
    space. At most `workers` processes run at once (default: the number of CPUs, up to 4), each fed
    batches of `batch_size` rows in turn; ids (one per record) name samples in error messages.
    _guard=False leaves out the Python-level audit hook: only for testing that the OS-level layers hold alone.
    """
    check_code_lf(source, modules)
    labels = [str(label) for label in labels]
    if not labels:
        raise CodeLFError("the project has no labels yet")
    cpu_s = timeout_s if cpu_s is None else cpu_s
    if batch_size < 1 or timeout_s <= 0 or cpu_s <= 0 or memory_mb < 64:
        raise ValueError("batch_size, timeout_s and cpu_s must be positive, memory_mb at least 64")
    columns, n = _columns(records)
    if ids is not None and len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} samples")
    if n == 0:
        return np.full(0, ABSTAIN, dtype=np.int16)
    app = _Application(
        source, labels, columns, n,
        ids=list(ids) if ids is not None else None, timeout_s=timeout_s, cpu_s=cpu_s,
        memory_mb=memory_mb, batch_size=batch_size, workers=workers or min(4, os.cpu_count() or 1),
        modules=allowed_modules(modules), guard=_guard,
    )  # fmt: skip
    return app.run()


def sandbox_isolation() -> dict:
    """The OS-level layers a sandbox process gets on this machine (network namespace, user, no_new_privs)."""
    app = _Application(
        "def lf(x):\n    return None\n", ["a"], {"text": [""]}, 1, ids=None, timeout_s=10.0, cpu_s=10.0,
        memory_mb=256, batch_size=1, workers=1, modules=DEFAULT_MODULES, guard=True,
    )  # fmt: skip
    app.run()
    return dict(app.isolation[0])
