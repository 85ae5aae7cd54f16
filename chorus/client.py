"""A Python client for Chorus's REST API, for notebooks: create a project, upload a DataFrame, push labeling
functions (keyword and regex dicts, or Python functions, Snorkel's @labeling_function() style as is), refit and
wait, and pull the probabilistic labels back as a DataFrame.

    from chorus.client import Client
    chorus = Client("http://localhost:8000", token="...")
    project = chorus.create_project("Spam", labels=["HAM", "SPAM"])
    project.upload(df, text_field="text", id_field="id")
    project.add_lf({"name": "free", "keywords": ["free"], "label": "SPAM"})
    project.add_lf(lf_check_out)          # a function or a Snorkel LabelingFunction
    project.refit()
    labels = project.labels()             # a pandas DataFrame

Only the standard library is needed; pandas is imported when a DataFrame is asked for or given.
"""

from __future__ import annotations

import inspect
import json
import textwrap
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEFAULT_TIMEOUT = 600.0
POLL_SECONDS = 0.5


class ChorusError(Exception):
    """An answer that is not a success: the server's message, the field at fault and the HTTP status."""

    def __init__(self, message: str, field: str | None = None, status: int | None = None, errors=None):
        super().__init__(message if not field else f"{field}: {message}")
        self.message, self.field, self.status, self.errors = message, field, status, errors


class Client:
    def __init__(self, url: str, token: str | None = None, *, username=None, password=None, timeout=60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = token
        if token is None:
            if not (username and password):
                raise ValueError("give a token, or a username and password to get one")
            self.token = self._request(
                "POST", "/api/token/", json_body={"username": username, "password": password}
            )["token"]

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json_body=None, params=None, body=None, content_type=None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = {"message": raw.decode("utf-8", "replace")[:500] or exc.reason}
            raise ChorusError(
                detail.get("message", str(detail)), detail.get("field"), exc.code, detail.get("errors")
            ) from None
        if not data:
            return None
        if "json" in kind and "ndjson" not in kind:
            return json.loads(data)
        return data

    def get(self, path: str, **params):
        return self._request("GET", path, params=params)

    def post(self, path: str, body: dict | None = None):
        return self._request("POST", path, json_body=body or {})

    def _upload(self, path: str, fields: dict, filename: str, content: bytes):
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            if value is None:
                continue
            if isinstance(value, dict | list):
                value = json.dumps(value) if isinstance(value, dict) else ",".join(value)
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self._request(
            "POST", path, body=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}"
        )

    # --- projects ---------------------------------------------------------------------------------------------

    def create_project(self, name: str, labels: list[str], **settings) -> Project:
        data = self.post("/api/projects/", {"name": name, "labels": list(labels), **settings})
        return Project(self, data["id"], data)

    def project(self, project_id: int) -> Project:
        return Project(self, project_id, self.get(f"/api/projects/{project_id}/"))

    def projects(self) -> list[Project]:
        return [Project(self, p["id"], p) for p in self.get("/api/projects/")]

    def wait(self, path: str, done: Callable[[dict], bool], timeout: float = DEFAULT_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(path)
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not finish within {timeout:.0f} s (last state: {state})")
            time.sleep(POLL_SECONDS)


def _jsonable(value):
    """DataFrame cells as JSON holds them (numpy scalars, timestamps, NaN as null)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if value != value else value
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, list | tuple | dict):
        try:
            return _jsonable(item())
        except (ValueError, TypeError):
            pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return [_jsonable(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    return str(value)


def _records(data) -> Iterable[dict]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame, without importing pandas
        return data.to_dict(orient="records")
    if isinstance(data, list | tuple):
        if not all(isinstance(r, dict) for r in data):
            raise TypeError("upload takes a DataFrame or a list of dicts (one per sample)")
        return data
    raise TypeError(f"upload takes a DataFrame or a list of dicts, not {type(data).__name__}")


def _source_of(func) -> tuple[str, str]:
    """(name, source) of a Python LF: a function, or Snorkel's LabelingFunction (its wrapped function).

    The notebook's simple constants (SPAM = 1, ABSTAIN = -1) and modules (re) the function uses are written
    above it, since the server runs the source alone.
    """
    name = getattr(func, "name", None)
    inner = getattr(func, "_f", None) or getattr(func, "f", None)
    target = inner if callable(inner) and not isinstance(func, types.FunctionType) else func
    if not callable(target):
        raise TypeError("add_lf takes a dict or a Python function")
    source = textwrap.dedent(inspect.getsource(target))
    prelude = []
    names = set(target.__code__.co_names)
    for global_name in sorted(names):
        value = target.__globals__.get(global_name)
        if isinstance(value, types.ModuleType) and value.__name__ not in ("snorkel", "snorkel.labeling"):
            prelude.append(
                f"import {value.__name__} as {global_name}"
                if value.__name__ != global_name
                else f"import {global_name}"
            )
        elif isinstance(value, bool | int | float | str) and not global_name.startswith("__"):
            prelude.append(f"{global_name} = {value!r}")
    if "labeling_function" in source and "import" not in source.split("def", 1)[0]:
        prelude.append("from snorkel.labeling import labeling_function")
    code = "\n".join(prelude) + ("\n\n" if prelude else "") + source
    if "@" not in source.split("def", 1)[0] and target.__name__ != "lf":
        # The server runs the function named lf (or the one decorated with @labeling_function()).
        code += f"\n\ndef lf(x):\n    return {target.__name__}(x)\n"
    return name or target.__name__, code


@dataclass
class Project:
    client: Client
    id: int
    data: dict

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def classes(self) -> list[str]:
        return self.data["labels"]

    def upload(
        self,
        data,
        text_field: str,
        id_field: str | None = None,
        label_field: str | None = None,
        split_field: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        **options,
    ) -> dict:
        """Import a DataFrame or a list of dicts (sent as JSONL); waits for the import unless wait=False.

        options: label_map, on_duplicate (fail, skip, update), metadata_fields. Raises ChorusError with the
        import's errors if it fails.
        """
        lines = "".join(
            json.dumps({str(k): _jsonable(v) for k, v in record.items()}, ensure_ascii=False) + "\n"
            for record in _records(data)
        )
        fields = {
            "text_field": text_field,
            "id_field": id_field,
            "label_field": label_field,
            "split_field": split_field,
            "format": "jsonl",
            **options,
        }
        job = self.client._upload(
            f"/api/projects/{self.id}/imports/", fields, "samples.jsonl", lines.encode()
        )
        if not wait:
            return job
        job = self.client.wait(
            f"/api/imports/{job['id']}/", lambda j: j["status"] in ("done", "failed"), timeout
        )
        if job["status"] == "failed":
            first = job["errors"][0] if job["errors"] else {"message": "the import failed"}
            raise ChorusError(first["message"], first.get("field"), errors=job["errors"])
        return job

    def add_lf(self, lf, *, name: str | None = None, label: str | None = None, active: bool = True) -> dict:
        """Save a labeling function and return it; applying it runs in the server's workers.

        lf: {"name", "kind", "label", "config"}; or shorthand {"name", "label", "keywords": [...]} or
        {"name", "label", "pattern": "..."}; or a Python function / Snorkel LabelingFunction (a code LF
        that votes a class name, a class index, or -1/None to abstain).
        """
        if isinstance(lf, dict):
            body = dict(lf)
            if "kind" not in body:
                if "keywords" in body:
                    body = {
                        "name": body.pop("name", None),
                        "label": body.pop("label", None),
                        "kind": "keyword",
                        "config": body,
                    }
                elif "pattern" in body:
                    body = {
                        "name": body.pop("name", None),
                        "label": body.pop("label", None),
                        "kind": "regex",
                        "config": body,
                    }
                else:
                    raise ValueError("an LF dict needs a kind, keywords or a pattern")
        else:
            lf_name, source = _source_of(lf)
            body = {"name": lf_name, "kind": "code", "label": None, "config": {"source": source}}
        if name:
            body["name"] = name
        if label is not None:
            body["label"] = label
        body["active"] = active
        return self.client.post(f"/api/projects/{self.id}/lfs/", body)

    def lfs(self) -> list[dict]:
        data = self.client.get(f"/api/projects/{self.id}/lfs/")
        return data["results"] if isinstance(data, dict) and "results" in data else data

    def refit(self, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Refit the label model once every active LF's votes are in; returns the finished run."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [
                lf["name"]
                for lf in self.lfs()
                if lf["active"] and lf["version"] and lf["version"]["status"] in ("queued", "running")
            ]
            if not pending or not wait:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"labeling functions still applying after {timeout:.0f} s: {pending}")
            time.sleep(POLL_SECONDS)
        run = self.client.post(f"/api/projects/{self.id}/runs/")
        if not wait:
            return run
        run = self.client.wait(
            f"/api/runs/{run['id']}/",
            lambda r: r["status"] in ("done", "failed"),
            max(1.0, deadline - time.monotonic()),
        )
        if run["status"] == "failed":
            raise ChorusError(run.get("message") or "the refit failed")
        return run

    def labels(self, split: str | None = None, only_informative: bool = False, only_gold: bool = False):
        """The latest run's probabilistic labels as a pandas DataFrame, one row per sample in row order:
        external_id, text, split, predicted_label, probability_<class> per class, confidence, hand_label,
        and each sample field."""
        import pandas as pd

        raw = self.client.get(
            f"/api/projects/{self.id}/export/",
            format="jsonl",
            split=split,
            only_informative=str(only_informative).lower(),
            only_gold=str(only_gold).lower(),
        )
        rows = []
        for line in (raw or b"").decode("utf-8").splitlines():
            if not line:
                continue
            r = json.loads(line)
            probabilities = r.pop("probabilities") or {}
            fields = r.pop("fields") or {}
            r.pop("hand_labels", None)
            row = {**r}
            for cls in self.classes:
                row[f"probability_{cls}"] = probabilities.get(cls)
            row.update({k: v for k, v in fields.items() if k not in row})
            rows.append(row)
        return pd.DataFrame(rows)

    def hand_labels(self):
        """Every hand label (annotator, source, label, time) of the latest run's export, as a DataFrame."""
        import pandas as pd

        raw = self.client.get(f"/api/projects/{self.id}/export/", format="jsonl")
        rows = []
        for line in (raw or b"").decode("utf-8").splitlines():
            if line:
                r = json.loads(line)
                rows += [{"external_id": r["external_id"], **h} for h in r["hand_labels"]]
        return pd.DataFrame(rows, columns=["external_id", "annotator", "source", "label", "labeled_at"])
