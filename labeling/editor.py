"""The LF studio's editor form: its fields as typed, to and from an LF version's kind, label and config.

The form carries the fields of every kind at once (the page shows those of the chosen kind); only the chosen
kind's fields make the config, and labeling.services checks it.
"""

from __future__ import annotations

import csv
import io

from projects.services import ServiceError

from .models import LabelingFunction, LFKind

# The kinds the browser editor writes (every kind).
EDITOR_KINDS = (LFKind.KEYWORD, LFKind.REGEX, LFKind.FIELD, LFKind.CODE, LFKind.PREDICTIONS, LFKind.SERVICE)
# Kinds that vote any class, so the editor asks for no label.
ANY_CLASS_KINDS = (LFKind.CODE, LFKind.PREDICTIONS, LFKind.SERVICE)

_MEASURES = (
    ("", "the value"),
    ("word_count_", "the number of words"),
    ("char_count_", "the number of characters"),
)
_COMPARISONS = (
    ("lt", "<"),
    ("le", "≤"),
    ("gt", ">"),
    ("ge", "≥"),
    ("eq", "="),
    ("ne", "≠"),
    ("between", "between"),
)
# (op, what the person reads), grouped as the select shows them.
FIELD_OPS = [
    ("the value", [("equals", "equals"), ("not_equals", "does not equal"), ("in", "is one of"), ("not_in", "is none of"),
                   ("empty", "is empty"), ("not_empty", "is not empty")]),
    *[(title, [(f"{prefix}{op}", f"{title} {sign}") for op, sign in _COMPARISONS]) for prefix, title in _MEASURES],
]  # fmt: skip

_TEXT_FIELDS = (
    "field",
    "op",
    "value",
    "low",
    "high",
    "values",
    "source",
    "keywords",
    "pattern",
    "mode",
    "name",
    "predictions",
    "min_score",
    "url",
    "batch_size",
    "timeout",
    "max_retries",
)


def blank_form(project) -> dict:
    return {
        "name": "",
        "kind": LFKind.KEYWORD,
        "keywords": "",
        "whole_word": True,
        "case_sensitive": False,
        "mode": "any",
        "pattern": "",
        "field": "text",
        "op": "word_count_lt",
        "value": "",
        "low": "",
        "high": "",
        "values": "",
        "field_case_sensitive": True,
        "source": "def lf(x):\n    return None\n",
        "predictions": "",
        "min_score": "",
        "url": "",
        "batch_size": "64",
        "timeout": "10",
        "max_retries": "2",
        "label": project.labels[0] if project.labels else "",
    }


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def form_from_version(lf: LabelingFunction, project) -> dict:
    form = blank_form(project)
    form["name"] = lf.name
    version = lf.current
    if version is None:
        return form
    form["kind"] = version.kind
    form["label"] = project.label_name(version.label) or ""
    config = version.config or {}
    if version.kind == LFKind.KEYWORD:
        form["keywords"] = "\n".join(config.get("keywords", []))
        form["whole_word"] = bool(config.get("whole_word", True))
        form["case_sensitive"] = bool(config.get("case_sensitive", False))
        form["mode"] = config.get("mode", "any")
    elif version.kind == LFKind.REGEX:
        form["pattern"] = config.get("pattern", "")
    elif version.kind == LFKind.FIELD:
        form["field"] = config.get("field", "")
        form["op"] = config.get("op", "")
        for key in ("value", "low", "high"):
            form[key] = _text(config.get(key))
        form["values"] = "\n".join(_text(v) for v in config.get("values", []))
        form["field_case_sensitive"] = bool(config.get("case_sensitive", True))
    elif version.kind == LFKind.CODE:
        form["source"] = config.get("source", "")
    elif version.kind == LFKind.PREDICTIONS:
        # The stored predictions stay unless new ones are pasted (config_of gives None then).
        form["min_score"] = _text(config.get("min_score"))
        form["stored_predictions"] = config.get("count")
    elif version.kind == LFKind.SERVICE:
        for key in ("url", "batch_size", "timeout", "max_retries"):
            form[key] = _text(config.get(key))
    return form


def form_from_data(data) -> dict:
    """The editor's fields as typed; checkboxes are absent when unticked."""
    form = {key: data.get(key, "") for key in _TEXT_FIELDS}
    form["kind"] = data.get("kind", LFKind.KEYWORD)
    form["label"] = data.get("label", "")
    form["mode"] = form["mode"] or "any"
    form["whole_word"] = bool(data.get("whole_word"))
    form["case_sensitive"] = bool(data.get("case_sensitive"))
    form["field_case_sensitive"] = bool(data.get("field_case_sensitive"))
    return form


def seen_of(data) -> tuple[int | None, str | None]:
    """The version number and name the edit form was opened on (its hidden fields), for the conflict check;
    (None, None) from a form without them (a script posting the old way): not checked."""
    number = data.get("seen_version", "")
    name = data.get("seen_name")
    return (int(number) if number.isdigit() else None), name


def _split_values(text: str) -> list[str]:
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def parse_pasted_predictions(text: str) -> list[dict]:
    """Lines of `id,label[,score]` (a header line naming id and label may come first) as records."""
    records = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["id", "label"]:
            continue
        if len(cells) < 2:
            raise ServiceError(
                f"predictions line {number}: give the sample id and the label, separated by a comma", "config"
            )
        record = {"id": cells[0], "label": cells[1]}
        if len(cells) > 2 and cells[2]:
            try:
                record["score"] = float(cells[2])
            except ValueError:
                raise ServiceError(
                    f"predictions line {number}: the score {cells[2]!r} is not a number", "config"
                ) from None
        records.append(record)
    return records


def config_of(form: dict) -> dict | None:
    """The config the form describes; None for a saved predictions LF when nothing new was pasted (kept)."""
    kind = form["kind"]
    if kind == LFKind.PREDICTIONS:
        if not form["predictions"].strip():
            return None
        config: dict = {"predictions": parse_pasted_predictions(form["predictions"])}
        if form["min_score"].strip():
            config["min_score"] = form["min_score"].strip()
        return config
    if kind == LFKind.SERVICE:
        out: dict = {"url": form["url"].strip()}
        for key in ("batch_size", "timeout", "max_retries"):
            if form[key].strip():
                out[key] = form[key].strip()
        return out
    if kind == LFKind.REGEX:
        return {"pattern": form["pattern"]}
    if kind == LFKind.FIELD:
        op = form["op"]
        config: dict = {"field": form["field"].strip(), "op": op}
        if op in ("in", "not_in"):
            config["values"] = _split_values(form["values"])
        elif op.endswith("between"):
            config["low"], config["high"] = form["low"].strip(), form["high"].strip()
        elif op not in ("empty", "not_empty"):
            config["value"] = form["value"].strip()
        if op in ("equals", "not_equals", "in", "not_in"):
            config["case_sensitive"] = form["field_case_sensitive"]
        return config
    if kind == LFKind.CODE:
        return {"source": form["source"]}
    return {
        "keywords": form["keywords"],
        "whole_word": form["whole_word"],
        "case_sensitive": form["case_sensitive"],
        "mode": form["mode"],
    }


def label_of(form: dict) -> str:
    """A code LF, predictions and a service give their own label per sample: no fixed class."""
    return "" if form["kind"] in ANY_CLASS_KINDS else form["label"]


def is_blank(form: dict) -> bool:
    """Nothing typed yet that could be an LF: the preview asks for it instead of showing an error."""
    kind = form["kind"]
    if kind == LFKind.REGEX:
        return not form["pattern"].strip()
    if kind == LFKind.FIELD:
        return not form["field"].strip()
    if kind == LFKind.CODE:
        return not form["source"].strip()
    if kind == LFKind.PREDICTIONS:
        return not form["predictions"].strip()
    if kind == LFKind.SERVICE:
        return not form["url"].strip()
    return not form["keywords"].replace(",", "").strip()


def describe_field_rule(config: dict) -> str:
    """A field rule as a sentence for readers of the studio: “text: the number of words < 4”."""
    titles = {value: title for _, ops in FIELD_OPS for value, title in ops}
    op = config.get("op", "")
    words = [f"{config.get('field', '?')}: {titles.get(op, op)}"]
    if op in ("in", "not_in"):
        words.append(", ".join(_text(v) for v in config.get("values", [])))
    elif op.endswith("between"):
        words.append(f"{_text(config.get('low'))} and {_text(config.get('high'))}")
    elif op not in ("empty", "not_empty"):
        words.append(_text(config.get("value")))
    if op in ("equals", "not_equals", "in", "not_in") and not config.get("case_sensitive", True):
        words.append("(ignoring case)")
    return " ".join(words)
