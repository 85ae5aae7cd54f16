"""What each kind of labeling function needs from the platform: checking its definition, and its resources.

Kinds that vote for one class (keyword, regex, field) carry that class in the version's `label`; kinds whose
votes come from elsewhere (code, predictions, service) may vote any class and store label -1.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from projects.models import Project, Sample
from projects.services import ServiceError

from .engine import field_rules, predictions, sandbox, service
from .engine import lfs as lf_engine

SINGLE_CLASS = ("keyword", "regex", "field")
MULTI_CLASS = ("code", "predictions", "service")


def clean_config(project: Project, kind: str, config, *, any_host: bool = False) -> dict:
    """A checked, normalised config for the kind, or ServiceError naming what is wrong (field "config").

    any_host takes a service on any host (a restored archive's, kept but not applied: labeling.services)."""
    if not isinstance(config, dict):
        raise ServiceError("config must be an object", "config")
    try:
        if kind in ("keyword", "regex"):
            parsed = lf_engine.parse_config(kind, config)
            if isinstance(parsed, lf_engine.KeywordConfig):
                return {
                    "keywords": list(parsed.keywords),
                    "whole_word": parsed.whole_word,
                    "case_sensitive": parsed.case_sensitive,
                    "mode": parsed.mode,
                }
            return {"pattern": parsed.pattern}
        if kind == "field":
            field_rules.parse_field_config(config)
            return {k: config[k] for k in field_rules.KEYS if k in config}
        if kind == "code":
            source = config.get("source")
            if not isinstance(source, str) or not source.strip():
                raise ValueError('give the code of the labeling function under "source" (def lf(x): ...)')
            sandbox.check_code_lf(source, code_modules(project))
            return {"source": source}
        if kind == "predictions":
            return _clean_predictions(project, config)
        if kind == "service":
            cfg = service.parse_service_config(config, ["*"] if any_host else settings.CHORUS_SERVICE_HOSTS)
            return {
                "url": cfg.url,
                "batch_size": cfg.batch_size,
                "timeout": cfg.timeout,
                "max_retries": cfg.max_retries,
            }
    except (lf_engine.LFConfigError, predictions.PredictionsError, ValueError) as exc:
        # (FieldRuleError and CodeLFError are LFConfigErrors.)
        raise ServiceError(str(exc), "config") from None
    raise ServiceError(f"labeling functions of kind {kind!r} are not available", "kind")


def code_modules(project: Project) -> tuple[str, ...]:
    return (*sandbox.DEFAULT_MODULES, *[m for m in project.code_modules if m not in sandbox.DEFAULT_MODULES])


def field_column(table: pa.Table, name: str):
    """The snapshot column a field rule reads: the text, or a sample field (all missing if no sample has it)."""
    if name == "text":
        return table.column("text")
    column = f"field:{name}"
    if column in table.column_names:
        return table.column(column)
    return pa.nulls(table.num_rows, type=pa.large_string())


def code_records(table: pa.Table) -> dict:
    """Columns for a code LF: x.text and each field by its own name."""
    columns = {"text": table.column("text")}
    for name in table.column_names:
        if name.startswith("field:") and name[6:] not in columns and name[6:].isidentifier():
            columns[name[6:]] = table.column(name)
    return pa.table(columns)


def _clean_predictions(project: Project, config: dict) -> dict:
    if "file" in config and "predictions" not in config:
        # An existing stored upload (an edit that keeps the predictions): only one of this project's own,
        # so a config naming another project's file cannot read that project's predictions.
        name = str(config["file"])
        if not name.startswith(f"predictions/{project.pk}-") or ".." in Path(name).parts:
            raise ValueError(
                "the stored predictions file is not one of this project's; upload the predictions again"
            )
        path = _stored_path(name)
        if not path.exists():
            raise ValueError("the stored predictions file is missing; upload the predictions again")
        clean = {k: config[k] for k in ("file", "count", "unmatched", "unmatched_ids") if k in config}
        clean["min_score"] = _min_score(config.get("min_score"))
        return clean
    preds = predictions.parse_predictions(config.get("predictions") or [], project.labels)
    ids = pa.array(
        Sample.objects.filter(project=project).values_list("external_id", flat=True), type=pa.large_string()
    )
    unmatched, examples = predictions.unmatched_ids(ids, preds)
    name = f"predictions/{project.pk}-{uuid.uuid4().hex}.parquet"
    path = _stored_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {"id": preds.ids, "label": pa.array(preds.labels, type=pa.int16())}
    if preds.scores is not None:
        columns["score"] = pa.array(preds.scores, type=pa.float64())
    pq.write_table(pa.table(columns), path)
    return {
        "file": name,
        "count": len(preds.ids),
        "unmatched": unmatched,
        "unmatched_ids": examples,
        "min_score": _min_score(config.get("min_score")),
    }


def _min_score(raw) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError("min_score must be a number") from None


def _stored_path(name: str) -> Path:
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / str(name)).resolve()
    if root not in path.parents or not path.name.endswith(".parquet"):
        raise ValueError("the predictions file must be one Chorus stored")
    return path


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> predictions.Predictions:
    table = pq.read_table(path)
    scores = table.column("score").to_numpy() if "score" in table.column_names else None
    return predictions.Predictions(
        ids=table.column("id").combine_chunks(),
        labels=table.column("label").to_numpy().astype("int16"),
        scores=scores,
    )


def load_predictions(config: dict) -> predictions.Predictions:
    """The stored predictions, read once per worker process (the file of a version never changes)."""
    path = _stored_path(config["file"])
    return _load(str(path), path.stat().st_mtime_ns)
