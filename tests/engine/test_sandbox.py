"""Code LFs in the sandbox: what a well-behaved LF gets, and how each hostile one is stopped.

Hostile LFs reach the real `os` module through `().__class__.__base__.__subclasses__()` (no import statement),
so each one meets the Python-level guard; the same LFs with the guard left out (_guard=False) show that the
OS-level layers hold on their own.
"""

from __future__ import annotations

import datetime
import os
import random
import socket
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from labeling.engine.sandbox import SAFE_MODULES, CodeLFError, run_code_lf, sandbox_isolation

LABELS = ["HAM", "SPAM"]
RECORDS = [
    {"id": "s0", "text": "check out my channel", "stars": 1},
    {"id": "s1", "text": "lovely song", "stars": 5},
    {"id": "s2", "text": "", "stars": None},
]
OS = "OS = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__\n"
IS_ROOT = os.geteuid() == 0
NO_FILES = (
    "OSError: [Errno 24] Too many open files"  # RLIMIT_NOFILE: not one more descriptor, not even to import
)


def run(source, records=RECORDS, **kwargs):
    kwargs.setdefault("timeout_s", 5)
    return run_code_lf(source, records, LABELS, **kwargs)


def failure(source, records=RECORDS, **kwargs) -> str:
    with pytest.raises(CodeLFError) as caught:
        run(source, records, **kwargs)
    return caught.value.message


# --- what a labeling function gets ------------------------------------------------------------------------


def test_it_maps_label_names_indexes_and_abstain_to_votes():
    source = (
        "def lf(x):\n"
        "    if 'check' in x.text:\n"
        "        return 'SPAM'\n"
        "    if x.text:\n"
        "        return 0\n"
        "    return None\n"
    )
    assert run(source).tolist() == [1, 0, -1]
    assert run("def lf(x):\n    return -1\n").dtype == np.int16
    assert run("def lf(x):\n    return -1\n").tolist() == [-1, -1, -1]


def test_a_pasted_snorkel_lf_runs_unchanged():
    source = """
from snorkel.labeling import labeling_function
import re

ABSTAIN = -1
HAM = 0
SPAM = 1

@labeling_function(name="promo", resources=dict(words={"check", "subscribe"}))
def lf_promo(x, words):
    return SPAM if words & set(re.findall(r"\\w+", x.text.lower())) else ABSTAIN
"""
    assert run(source).tolist() == [1, -1, -1]


def test_snorkel_bare_decorator_constructor_and_preprocessor_work():
    bare = "from snorkel.labeling import labeling_function\n@labeling_function\ndef short(x):\n    return 0 if len(x.text) < 12 else -1\n"
    assert run(bare).tolist() == [-1, 0, 0]
    built = (
        "from snorkel.labeling import LabelingFunction\n"
        "def has(x, word):\n    return 1 if word in x.text else -1\n"
        "lf_check = LabelingFunction(name='check', f=has, resources={'word': 'check'})\n"
    )
    assert run(built).tolist() == [1, -1, -1]
    pre = (
        "from snorkel.labeling import labeling_function\n"
        "from snorkel.preprocess import preprocessor\n"
        "@preprocessor(memoize=True)\n"
        "def lower(x):\n    x.text = x.text.upper()\n    return x\n"
        "@labeling_function(pre=[lower])\n"
        "def shouting(x):\n    return 1 if 'CHECK' in x.text else -1\n"
    )
    assert run(pre).tolist() == [1, -1, -1]


def test_a_pasted_script_may_import_snorkel_names_it_does_not_use_in_the_lf():
    source = (
        "from snorkel.labeling import PandasLFApplier, labeling_function\n"
        "@labeling_function()\ndef lf_short(x):\n    return 0 if len(x.text) < 12 else -1\n"
    )
    assert run(source).tolist() == [-1, 0, 0]
    uses = "from snorkel.labeling import PandasLFApplier\ndef lf(x):\n    return PandasLFApplier([])\n"
    assert failure(uses).startswith(
        "NotImplementedError: snorkel.labeling.PandasLFApplier is not available inside a labeling function at line 3"
    )


def test_fields_are_attributes_and_items():
    source = (
        "def lf(x):\n"
        "    assert x['text'] == x.text and x.get('missing', 'd') == 'd'\n"
        "    if x.stars is None:\n"
        "        return -1\n"
        "    return 1 if x['stars'] < 3 else 0\n"
    )
    assert run(source).tolist() == [1, 0, -1]
    columns = {"text": ["a", "b"], "stars": np.array([4, 1]), "my field": ["x", "y"]}
    source = "def lf(x):\n    return int(x.stars < 2 and x['my field'] == 'y')\n"
    assert run_code_lf(source, columns, LABELS).tolist() == [0, 1]


def test_an_arrow_table_with_dates_and_numpy_values_is_carried_over():
    table = pa.table(
        {
            "text": ["a", "b"],
            "when": pa.array([datetime.date(2024, 1, 5), None], type=pa.date32()),
            "score": pa.array([0.5, None], type=pa.float32()),
        }
    )
    source = "def lf(x):\n    return 1 if x.when == '2024-01-05' and x.score == 0.5 else 0\n"
    assert run_code_lf(source, table, LABELS).tolist() == [1, 0]
    numpy_records = [{"text": "a", "n": np.int64(3)}, {"text": "b", "n": np.int64(4)}]
    assert run_code_lf("def lf(x):\n    return x.n % 2\n", numpy_records, LABELS).tolist() == [1, 0]


def test_votes_are_identical_to_the_function_run_in_process():
    rng = random.Random(3)
    words = "free prize call now check out my song love it subscribe lol".split()
    records = [{"text": " ".join(rng.choices(words, k=rng.randint(1, 15))), "n": i} for i in range(2_500)]
    source = (
        "import re, math\n"
        "WIN = re.compile(r'\\b(free|prize)\\b')\n"
        "def lf(x):\n"
        "    if WIN.search(x.text):\n"
        "        return 1\n"
        "    if len(x.text.split()) < 4 or math.sqrt(x.n) % 7 < 1:\n"
        "        return 0\n"
        "    return -1\n"
    )
    namespace: dict = {}
    exec(source, namespace)
    expected = [namespace["lf"](SimpleNamespace(**r)) for r in records]
    for batch_size, workers in ((100_000, 1), (300, 2), (7, 3)):
        votes = run_code_lf(source, records, LABELS, batch_size=batch_size, workers=workers)
        assert votes.tolist() == expected


def test_allowed_modules_are_a_setting():
    source = "import json\ndef lf(x):\n    return len(json.dumps([x.text])) % 2\n"
    assert failure(source).startswith("line 1: module 'json' is not available")
    votes = run_code_lf(source, RECORDS, LABELS, modules=("re", "math", "string", "json"))
    assert votes.tolist() == [len(f'["{r["text"]}"]') % 2 for r in RECORDS]
    with pytest.raises(CodeLFError, match="cannot be offered to code LFs: os"):
        run_code_lf(source, RECORDS, LABELS, modules=("re", "os"))


def test_every_module_a_project_may_offer_works_inside():
    source = (
        "import "
        + ", ".join(sorted(SAFE_MODULES))
        + "\n"
        + (
            "def lf(x):\n"
            "    when = datetime.datetime.strptime('2024-01-02', '%Y-%m-%d')\n"  # imports _strptime lazily
            "    year = time.strptime('2024', '%Y').tm_year\n"
            "    mean = statistics.mean([1, 2, 3]) + float(decimal.Decimal('1.5')) + float(fractions.Fraction(1, 2))\n"
            "    digest = hashlib.sha256(x.text.encode()).hexdigest()\n"
            "    days = calendar.monthrange(2024, 2)[1]\n"
            "    data = json.loads(json.dumps({'words': textwrap.wrap(x.text, 5)}))\n"
            "    ok = when.day == 2 and year == 2024 and mean == 4 and days == 29 and len(digest) == 64\n"
            "    return 1 if ok and data['words'] and unicodedata.category(x.text[0]) == 'Ll' else 0\n"
        )
    )
    votes = run_code_lf(source, [{"text": "check out"}], LABELS, modules=tuple(SAFE_MODULES))
    assert votes.tolist() == [1]


# --- mistakes in a labeling function ----------------------------------------------------------------------


def test_an_exception_names_the_sample_and_the_line():
    source = "def lf(x):\n    words = x.text.split()\n    return 1 if words[0] == 'lovely' else -1\n"
    with pytest.raises(CodeLFError) as caught:
        run(source, ids=["s0", "s1", "s2"])
    error = caught.value
    assert error.message == (
        "IndexError: list index out of range at line 3 (`return 1 if words[0] == 'lovely' else -1`) "
        "on sample 's2' (row 2)"
    )
    assert (error.line, error.row, error.sample) == (3, 2, "s2")


def test_an_exception_in_a_later_batch_names_its_row():
    records = [{"text": "ok"}] * 50 + [{"text": None}] + [{"text": "ok"}] * 10
    message = failure("def lf(x):\n    return len(x.text) % 2\n", records, batch_size=8, workers=2)
    assert message.startswith("TypeError: object of type 'NoneType' has no len() at line 2")
    assert message.endswith("on sample 50")


def test_a_value_that_is_no_label_is_reported():
    message = failure("def lf(x):\n    return 'spam'\n")
    assert message == (
        "the labeling function returned 'spam' on sample 0; return a label name (HAM, SPAM), "
        "a label index (0-1) or ABSTAIN (-1 or None)"
    )
    assert "returned 2 on sample 0" in failure("def lf(x):\n    return 2\n")
    assert "returned True on sample 0" in failure("def lf(x):\n    return True\n")


def test_an_error_in_module_code_names_the_line():
    assert failure("X = 1\nY = X / 0\ndef lf(x):\n    return 1\n") == (
        "line 2 (`Y = X / 0`): ZeroDivisionError: division by zero"
    )


# --- hostile labeling functions ---------------------------------------------------------------------------


def test_an_infinite_loop_is_stopped_by_the_cpu_limit():
    message = failure("def lf(x):\n    while True:\n        pass\n", cpu_s=1, timeout_s=60)
    assert message == "the labeling function used more than 1 s of CPU time on sample 0 and was stopped"


def test_a_wait_that_uses_no_cpu_is_stopped_by_the_wall_clock():
    source = "import time\ndef lf(x):\n    time.sleep(60)\n"
    message = failure(source, timeout_s=1, modules=("time",))
    assert message == "the labeling function took longer than 1 s on rows 0-2 and was stopped"


def test_a_fork_bomb_is_refused():
    assert "module 'multiprocessing' is not available" in failure(
        "import multiprocessing\ndef lf(x):\n    return 1\n"
    )
    bomb = OS + "def lf(x):\n    while True:\n        OS['fork']()\n"
    assert failure(bomb) == "the labeling function tried to start a process or thread on sample 0: refused"
    # Without the guard the process limit stops it.
    message = failure(bomb, _guard=False)
    assert message.startswith("BlockingIOError: [Errno 11] Resource temporarily unavailable at line 4")


def test_a_10_gb_allocation_runs_out_of_memory():
    message = failure("def lf(x):\n    block = bytearray(10 * 1024**3)\n    return 1\n", memory_mb=256)
    assert message == (
        "the labeling function ran out of memory (limit 256 MB) on sample 0 at line 2 "
        "(`block = bytearray(10 * 1024**3)`)"
    )


def test_the_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s3cr3t-from-the-parent")
    assert "module 'os' is not available" in failure(
        "import os\ndef lf(x):\n    return os.environ['SECRET_KEY']\n"
    )
    reads = OS + "def lf(x):\n    return 1 if 'SECRET_KEY' in OS['environ'] else 0\n"
    message = failure(reads)
    assert message.startswith("PermissionError: the environment is not available in a labeling function")
    getenv = OS + "def lf(x):\n    return OS['getenv']('SECRET_KEY')\n"
    assert "the environment is not available" in failure(getenv)
    # The process never had the environment: its startup copy (posix.environ) is empty, guard or not.
    startup_copy = (
        OS + "def lf(x):\n    env = OS['sys'].modules['posix'].environ\n    return 1 if env else 0\n"
    )
    for guard in (True, False):
        assert run(startup_copy, _guard=guard).tolist() == [0, 0, 0]


def test_django_settings_cannot_be_reached():
    assert "module 'django' is not available" in failure("import django\ndef lf(x):\n    return 1\n")
    assert "module 'config.settings' is not available" in failure(
        "from config.settings import SECRET_KEY\ndef lf(x):\n    return 1\n"
    )
    hidden = OS + "def lf(x):\n    return OS['__builtins__']['__import__']('django').VERSION[0]\n"
    assert failure(hidden).startswith("ImportError: module 'django' is not available in a labeling function")
    # Without the guard: no site-packages, no project folder on the path, and no file can be opened.
    assert failure(hidden, _guard=False).startswith(NO_FILES)


class _Listener:
    """A server socket in the test process that records whether anything connected to it."""

    def __init__(self, family, address):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def _connect(family: str, address) -> str:
    return OS + (
        "def lf(x):\n"
        f"    sock = OS['__builtins__']['__import__']('socket').socket(OS['__builtins__']['__import__']('socket').{family})\n"
        f"    sock.connect({address!r})\n"
        "    return 1\n"
    )


def test_a_tcp_socket_cannot_be_opened():
    listener = _Listener(socket.AF_INET, ("127.0.0.1", 0))
    try:
        assert "module 'socket' is not available" in failure("import socket\ndef lf(x):\n    return 1\n")
        dynamic = "def lf(x):\n    return __import__('sock' + 'et').create_connection(('127.0.0.1', 80))\n"
        assert failure(dynamic).startswith(
            "ImportError: module 'socket' is not available in a labeling function"
        )
        source = _connect("AF_INET", listener.address)
        assert failure(source).startswith("ImportError: module 'socket' is not available")
        assert failure(source, _guard=False).startswith(NO_FILES)
    finally:
        listener.close()
    assert listener.connections == 0


def test_a_unix_socket_cannot_be_opened(tmp_path):
    path = str(tmp_path / "db.sock")
    listener = _Listener(socket.AF_UNIX, path)
    os.chmod(path, 0o777)
    os.chmod(tmp_path, 0o777)
    try:
        for target in (path, "/var/run/postgresql/.s.PGSQL.5432"):
            source = _connect("AF_UNIX", target)
            assert failure(source).startswith("ImportError: module 'socket' is not available")
            assert failure(source, _guard=False).startswith(NO_FILES)
    finally:
        listener.close()
    assert listener.connections == 0


@pytest.mark.parametrize("module", ["os", "subprocess", "ctypes", "sys", "importlib", "io", "shutil"])
def test_importing_a_module_that_reaches_the_system_is_refused(module):
    message = failure(f"import re\nimport {module}\ndef lf(x):\n    return 1\n")
    assert (
        message
        == f"line 2: module {module!r} is not available in a labeling function (available: math, re, string)"
    )
    dynamic = f"def lf(x):\n    return __import__({module!r})\n"
    assert failure(dynamic).startswith(
        f"ImportError: module {module!r} is not available in a labeling function"
    )


def test_writing_a_file_is_refused(tmp_path):
    os.chmod(tmp_path, 0o777)
    target = str(tmp_path / "x")
    message = failure(f"def lf(x):\n    open({target!r}, 'w').write('hi')\n    return 1\n")
    assert message.startswith(
        "PermissionError: files cannot be opened or written in a labeling function at line 2"
    )
    low_level = OS + f"def lf(x):\n    OS['open']({target!r}, OS['O_WRONLY'] | OS['O_CREAT'])\n    return 1\n"
    assert failure(low_level) == (
        f"the labeling function tried to open the file {target!r}; files are not available on sample 0: refused"
    )
    # Without the guard no new file descriptor can be made.
    assert failure(low_level, _guard=False).startswith(f"{NO_FILES}: {target!r} at line 3")
    assert not os.path.exists(target)


@pytest.mark.skipif(not IS_ROOT, reason="the empty file system (chroot) needs root; CI runs as root")
def test_without_the_guard_the_file_system_is_an_empty_directory(tmp_path):
    os.chmod(tmp_path, 0o777)
    probe = OS + (
        "def lf(x):\n"
        "    for path in ('/etc/passwd', '/var/run/postgresql/.s.PGSQL.5432', '/tmp', '/proc/1/environ'):\n"
        "        try:\n"
        "            OS['stat'](path)\n"
        "            return 1\n"
        "        except OSError:\n"
        "            pass\n"
        f"    OS['mkdir']({str(tmp_path / 'made')!r})\n"
    )
    # Its root is a directory of root's that nobody may even look into: nothing to stat, nowhere to write.
    assert failure(probe, _guard=False).startswith(
        "PermissionError: [Errno 13] Permission denied: '/tmp/pytest"
    )
    assert list(tmp_path.iterdir()) == []


def test_reading_a_file_is_refused():
    message = failure("def lf(x):\n    return open('/etc/passwd').read()\n")
    assert message.startswith("PermissionError: files cannot be opened or written in a labeling function")
    low_level = (
        OS
        + "def lf(x):\n    fd = OS['open']('/etc/passwd', OS['O_RDONLY'])\n    return OS['read'](fd, 100)\n"
    )
    assert "tried to open the file '/etc/passwd'" in failure(low_level)
    assert failure(low_level, _guard=False).startswith(f"{NO_FILES}: '/etc/passwd' at line 3")


def test_running_a_program_is_refused(tmp_path):
    os.chmod(tmp_path, 0o777)
    marker = tmp_path / "ran"
    source = OS + f"def lf(x):\n    return 0 if OS['system']('touch {marker}') == 0 else -1\n"
    assert failure(source) == "the labeling function tried to run a program on sample 0: refused"
    # Without the guard, system() cannot fork: the command does not run.
    assert run(source, _guard=False).tolist() == [-1, -1, -1]
    assert not marker.exists()


def test_printing_is_capped():
    assert failure("def lf(x):\n    print('x' * 10**9)\n", memory_mb=256).startswith(
        "the labeling function ran out of memory (limit 256 MB) on sample 0"
    )
    loop = "def lf(x):\n    while True:\n        print('x' * 1000)\n"
    assert failure(loop) == "the labeling function printed more than 1 MB on sample 0 and was stopped"
    assert run("def lf(x):\n    print(x.text)\n    return 1\n").tolist() == [1, 1, 1]


def test_writing_to_the_sandbox_pipes_directly_is_stopped():
    stdout = OS + "def lf(x):\n    while True:\n        OS['write'](1, b'x' * 65536)\n"
    assert (
        failure(stdout)
        == "the labeling function's sandbox sent an answer that cannot be read; it was stopped"
    )
    stderr = OS + "def lf(x):\n    while True:\n        OS['write'](2, b'x' * 65536)\n"
    assert failure(stderr) == "the labeling function wrote too much output and was stopped"


def test_interpreter_tricks_are_refused():
    frames = "import sys\n"
    assert "module 'sys' is not available" in failure(frames + "def lf(x):\n    return 1\n")
    getframe = OS + "def lf(x):\n    return OS['sys']._getframe(1).f_globals and 1\n"
    assert failure(getframe) == "the labeling function tried to use sys._getframe on sample 0: refused"
    code = "def lf(x):\n    return lf.__code__.co_consts and 1\n"
    assert (
        failure(code)
        == "the labeling function tried to reach the interpreter's internals ('__code__') on sample 0: refused"
    )


def _can_make_network_namespace() -> bool:
    probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


@pytest.mark.skipif(not IS_ROOT, reason="the user switch needs root; CI runs as root")
def test_as_root_it_runs_as_nobody_without_network():
    isolation = sandbox_isolation()
    assert (isolation["user"], isolation["no_new_privs"], isolation["filesystem"]) == (65534, True, True)
    # Where the platform allows network namespaces (this machine and CI do), the process gets one.
    assert isolation["network_namespace"] == _can_make_network_namespace()


def test_the_caller_goes_on_after_a_hostile_lf():
    with pytest.raises(CodeLFError):
        run("def lf(x):\n    while True:\n        pass\n", timeout_s=1)
    assert run("def lf(x):\n    return 'HAM'\n").tolist() == [0, 0, 0]
    assert _sandbox_children() == []


def _sandbox_children() -> list[int]:
    """Sandbox processes this process started that are still running."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                if parent == os.getpid() and b"sandbox_child.py" in cmdline.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found
