"""Python code LFs: validated at save time, applied in sandboxed processes, a batch of rows at a time.

Isolation, from the outside in (details in sandbox_child.py):
- a fresh interpreter (`python -I -S -B`) with an empty environment and no site-packages: no settings, no
  secrets, no Django, nothing installed is importable;
- as root: a new network namespace (no network at all) and the unprivileged user `nobody`; otherwise an
  unprivileged user + network namespace where the kernel allows it; no_new_privs in every case;
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
            if name not in allowed and name.partition(".")[0] != "snorkel":
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


def _columns(records) -> tuple[list[str], list[list], int]:
    """Field names and one Python list per field, from records, a mapping of columns or an Arrow table."""
    if hasattr(records, "column_names") and hasattr(records, "column"):  # pyarrow.Table / RecordBatch
        names = [str(n) for n in records.column_names]
        return names, [records.column(i).to_pylist() for i in range(len(names))], records.num_rows
    if isinstance(records, Mapping):
        names = [str(n) for n in records]
        columns = [list(records[n]) for n in records]
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValueError("every column must have the same length")
        return names, columns, lengths.pop() if lengths else 0
    names = list(dict.fromkeys(key for record in records for key in record))
    return names, [[record.get(n) for record in records] for n in names], len(records)


def _plain(value):
    if value is None or isinstance(value, str | int | float | bool):
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


def _encode(obj) -> bytes:
    try:
        data = marshal.dumps(obj)
    except ValueError:  # a value marshal cannot carry (a date, a numpy scalar): send its plain form
        data = marshal.dumps(_plain(obj))
    return struct.pack("<I", len(data)) + data


# --- processes --------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    index: int
    start: int
    stop: int


class _Child:
    """One sandbox process and its pipes, fed batches of one application."""

    def __init__(self, argv: list[str], setup: bytes):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(pipe.fileno(), False)
        self.outgoing = bytearray(setup)
        self.incoming = bytearray()
        self.stderr = bytearray()
        self.sent: list[_Batch] = []  # sent, answer not yet received, oldest first
        self.isolation: dict | None = None
        self.started = time.monotonic()
        self.ready_at: float | None = None  # the setup (user's module code included) is done
        self.last_answer: float | None = None
        self.closing = False
        self.open_outputs = 2

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


@dataclass(frozen=True)
class _Failure:
    info: dict
    batch: _Batch | None


class _Application:
    def __init__(self, source, labels, names, columns, n, *, ids, timeout_s, cpu_s, memory_mb, batch_size,
                 workers, modules, guard):  # fmt: skip
        self.labels, self.names, self.columns, self.n, self.ids = labels, names, columns, n, ids
        self.lines = source.splitlines()
        self.timeout_s, self.cpu_s, self.memory_mb = timeout_s, cpu_s, memory_mb
        self.batches = [
            _Batch(i, start, min(start + batch_size, n)) for i, start in enumerate(range(0, n, batch_size))
        ]
        self.todo = list(reversed(self.batches))
        self.votes = np.full(n, ABSTAIN, dtype=np.int16)
        self.workers = max(1, min(workers, len(self.batches)))
        cpu_total = math.ceil(cpu_s * (len(self.batches) + 1))
        self.argv = [
            sys.executable, "-I", "-S", "-B", str(CHILD),
            str(memory_mb), str(cpu_total), repr(float(cpu_s)), "1" if guard else "0",
        ]  # fmt: skip
        self.setup = _encode(
            {"source": source, "labels": list(labels), "names": names, "modules": list(modules)}
        )
        self.isolation: list[dict] = []

    def source_line(self, line: int | None) -> str:
        return self.lines[line - 1].strip()[:120] if line and 0 < line <= len(self.lines) else ""

    def _feed(self, child: _Child) -> None:
        while self.todo and len(child.sent) < IN_FLIGHT:
            batch = self.todo.pop()
            part = [c[batch.start : batch.stop] for c in self.columns]
            child.outgoing += _encode((batch.stop - batch.start, part))
            child.sent.append(batch)
        if not self.todo and not child.closing:
            child.outgoing += struct.pack("<I", 0)
            child.closing = True

    def _frames(self, child: _Child) -> _Failure | None:
        buf = child.incoming
        while len(buf) >= 6:
            if buf[0:1] != b"C":
                return _Failure({"kind": "protocol"}, None)
            kind, (size,) = bytes(buf[1:2]), struct.unpack("<I", buf[2:6])
            batch = child.sent[0] if child.sent else None
            cap = {
                b"I": INFO_CAP,
                b"E": ERROR_CAP,
                b"V": 2 * (batch.stop - batch.start) if batch else -1,
            }.get(kind)
            if cap is None or size > cap or (kind == b"V" and size != cap):
                return _Failure({"kind": "protocol"}, None)
            if len(buf) < 6 + size:
                return None
            payload = bytes(buf[6 : 6 + size])
            del buf[: 6 + size]
            if kind == b"I":
                child.isolation = _json_object(payload)
                child.ready_at = time.monotonic()
                self.isolation.append(child.isolation)
                continue
            if kind == b"E":
                return _Failure(_json_object(payload) or {"kind": "protocol"}, batch)
            votes = np.frombuffer(payload, dtype="=i2")
            if votes.size and (votes.min() < ABSTAIN or votes.max() >= len(self.labels)):
                return _Failure({"kind": "protocol"}, None)
            self.votes[batch.start : batch.stop] = votes
            child.sent.pop(0)
            child.last_answer = time.monotonic()
            self._feed(child)
        return None

    def _deadline(self, child: _Child) -> float:
        # Each batch has timeout_s from the moment the previous answer (or the end of the setup) arrived.
        base = child.last_answer or child.ready_at or child.started + SETUP_GRACE_S
        return base + self.timeout_s

    def run(self) -> np.ndarray:
        children: list[_Child] = []
        selector = selectors.DefaultSelector()
        try:
            for _ in range(self.workers):
                child = _Child(self.argv, self.setup)
                self._feed(child)
                children.append(child)
                selector.register(child.proc.stdin, selectors.EVENT_WRITE, (child, "in"))
                selector.register(child.proc.stdout, selectors.EVENT_READ, (child, "out"))
                selector.register(child.proc.stderr, selectors.EVENT_READ, (child, "err"))
            failure = self._loop(selector, children)
        finally:
            for child in children:
                child.kill()
            selector.close()
        if failure is not None:
            raise failure
        return self.votes

    def _loop(self, selector, children) -> CodeLFError | None:
        running = list(children)
        while running:
            now = time.monotonic()
            for child in running:
                if now > self._deadline(child):
                    return self._error(
                        _Failure({"kind": "timeout"}, child.sent[0] if child.sent else None), child
                    )
            wait = min(self._deadline(c) for c in running) - now
            for key, _ in selector.select(timeout=max(0.01, wait)):
                child, which = key.data
                if which == "in":
                    try:
                        written = os.write(key.fileobj.fileno(), child.outgoing[: 1 << 20])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        child.outgoing.clear()
                        written = 0
                    del child.outgoing[:written]
                    if not child.outgoing:
                        selector.unregister(key.fileobj)
                        if child.closing:
                            key.fileobj.close()
                    continue
                try:
                    data = os.read(key.fileobj.fileno(), 1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(key.fileobj)
                    child.open_outputs -= 1
                    if child.open_outputs == 0:
                        running.remove(child)
                        if child.sent or not child.closing:
                            return self._error(_Failure({"kind": "exit"}, child.sent[0] if child.sent else None),
                                               child)  # fmt: skip
                    continue
                if which == "err":
                    child.stderr += data
                    if len(child.stderr) > STDERR_CAP:
                        return self._error(_Failure({"kind": "flood"}, None), child)
                    continue
                child.incoming += data
                failure = self._frames(child)
                if failure is not None:
                    return self._error(failure, child)
                if child.outgoing and not child.proc.stdin.closed:
                    try:
                        selector.get_key(child.proc.stdin)
                    except KeyError:
                        selector.register(child.proc.stdin, selectors.EVENT_WRITE, (child, "in"))
        return None

    def _error(self, failure: _Failure, child: _Child) -> CodeLFError:
        child.kill()
        return _describe_failure(failure, child, self)


def _json_object(payload: bytes) -> dict | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _describe_failure(failure: _Failure, child: _Child, app: _Application) -> CodeLFError:
    info, batch = failure.info, failure.batch
    kind = info.get("kind")
    row = info.get("row")
    row = (
        batch.start + row
        if batch is not None and isinstance(row, int) and 0 <= row < batch.stop - batch.start
        else None
    )
    line = info.get("line") if isinstance(info.get("line"), int) else None
    where = ""
    if row is not None:
        sample = app.ids[row] if app.ids is not None else None
        where = f" on sample {sample!r} (row {row})" if sample is not None else f" on sample {row}"
    else:
        sample = None
    if batch is not None and row is None and kind in ("timeout", "exit"):
        where = f" on rows {batch.start}-{batch.stop - 1}"
    at = f"line {line}" + (f" (`{app.source_line(line)}`)" if app.source_line(line) else "") if line else ""
    text = lambda key: str(info.get(key, ""))[:500]  # noqa: E731
    if kind == "module":
        message = f"{at or 'the code'}: {text('error')}" if at else f"the code failed: {text('error')}"
    elif kind == "exception":
        message = f"{text('error')} at {at}{where}" if at else f"{text('error')}{where}"
    elif kind == "memory":
        message = f"the labeling function ran out of memory (limit {app.memory_mb} MB){where}" + (
            f" at {at}" if at else ""
        )
    elif kind == "return":
        names = ", ".join(app.labels)
        message = (
            f"the labeling function returned {text('value')}{where}; return a label name ({names}), "
            f"a label index (0-{len(app.labels) - 1}) or ABSTAIN (-1 or None)"
        )
    elif kind == "refused":
        message = f"the labeling function tried to {text('what')}{where}: refused"
    elif kind == "output":
        message = f"the labeling function printed more than {text('limit')}{where} and was stopped"
    elif kind == "setup":
        message = text("message")
    elif kind == "cpu":
        message = f"the labeling function used more than {app.cpu_s:g} s of CPU time{where} and was stopped"
    elif kind == "timeout":
        message = f"the labeling function took longer than {app.timeout_s:g} s{where} and was stopped"
    elif kind == "flood":
        message = "the labeling function wrote too much output and was stopped"
    elif kind == "exit":
        code = child.proc.returncode
        reason = {
            -signal.SIGXCPU: "used more than its CPU time",
            -signal.SIGKILL: "was killed (CPU time or memory limit)",
            -signal.SIGXFSZ: "tried to write a file",
        }.get(code, f"stopped unexpectedly (exit status {code})")
        tail = child.stderr[-300:].decode("utf-8", "replace").strip()
        message = f"the labeling function {reason}{where}" + (f": {tail}" if tail else "")
    else:
        message = "the labeling function's sandbox sent an answer that cannot be read; it was stopped"
    return CodeLFError(message, line=line, row=row, sample=sample)


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
    batch in wall-clock time, cpu_s (default: timeout_s) in CPU time; memory_mb is each process's address space; at most `workers` processes
    run at once (default: the number of CPUs, up to 4), each fed batches of `batch_size` rows in turn.
    _guard=False leaves out the Python-level audit hook: only for testing that the OS-level layers hold alone.
    """
    check_code_lf(source, modules)
    labels = [str(label) for label in labels]
    if not labels:
        raise CodeLFError("the project has no labels yet")
    cpu_s = timeout_s if cpu_s is None else cpu_s
    if batch_size < 1 or timeout_s <= 0 or cpu_s <= 0 or memory_mb < 64:
        raise ValueError("batch_size, timeout_s and cpu_s must be positive, memory_mb at least 64")
    names, columns, n = _columns(records)
    if ids is not None and len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} samples")
    if n == 0:
        return np.full(0, ABSTAIN, dtype=np.int16)
    app = _Application(
        source, labels, names, columns, n,
        ids=list(ids) if ids is not None else None, timeout_s=timeout_s, cpu_s=cpu_s,
        memory_mb=memory_mb, batch_size=batch_size, workers=workers or min(4, os.cpu_count() or 1),
        modules=allowed_modules(modules), guard=_guard,
    )  # fmt: skip
    return app.run()


def sandbox_isolation() -> dict:
    """The OS-level layers a sandbox process gets on this machine (network namespace, user, no_new_privs)."""
    app = _Application(
        "def lf(x):\n    return None\n", ["a"], ["text"], [[""]], 1, ids=None, timeout_s=10.0, cpu_s=10.0,
        memory_mb=256,
        batch_size=1, workers=1, modules=DEFAULT_MODULES, guard=True,
    )  # fmt: skip
    app.run()
    return dict(app.isolation[0])
