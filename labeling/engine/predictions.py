"""Uploaded predictions of an existing model as a source: sample id → label (and an optional score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .matrix import ABSTAIN


class PredictionsError(ValueError):
    """The predictions cannot be used; the message names the entry at fault."""


@dataclass(frozen=True)
class Predictions:
    ids: pa.Array  # large_string
    labels: np.ndarray  # int16 class indexes
    scores: np.ndarray | None  # float64, NaN where none was given


def parse_predictions(records, labels: list[str]) -> Predictions:
    """records: an iterable of {"id", "label", "score"?}; labels are class names or indexes."""
    ids, classes, scores = [], [], []
    seen: set[str] = set()
    any_score = False
    for i, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise PredictionsError(f"prediction {i}: expected an object with id and label")
        raw_id = record.get("id")
        if raw_id is None or str(raw_id).strip() == "":
            raise PredictionsError(f"prediction {i}: the id is missing")
        sid = str(raw_id)
        if sid in seen:
            raise PredictionsError(f"prediction {i}: id {sid!r} appears twice")
        seen.add(sid)
        raw = record.get("label")
        index = _class_index(raw, labels)
        if index is None:
            raise PredictionsError(
                f"prediction {i} (id {sid!r}): label {raw!r} is not one of the classes ({', '.join(labels)})"
            )
        score = record.get("score")
        if score is not None and score != "":
            try:
                score = float(score)
            except (TypeError, ValueError):
                raise PredictionsError(
                    f"prediction {i} (id {sid!r}): score {score!r} is not a number"
                ) from None
            any_score = True
        else:
            score = float("nan")
        ids.append(sid)
        classes.append(index)
        scores.append(score)
    if not ids:
        raise PredictionsError("there are no predictions")
    return Predictions(
        ids=pa.array(ids, type=pa.large_string()),
        labels=np.asarray(classes, dtype=np.int16),
        scores=np.asarray(scores, dtype=float) if any_score else None,
    )


def _class_index(raw, labels: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float) and float(raw).is_integer() and 0 <= int(raw) < len(labels):
        return int(raw)
    text = str(raw).strip()
    if text in labels:
        return labels.index(text)
    if text.isdigit() and int(text) < len(labels):
        return int(text)
    return None


def votes_from_predictions(sample_ids, preds: Predictions, min_score: float | None = None) -> np.ndarray:
    """Votes over the samples (in the order of sample_ids); samples without a prediction abstain."""
    sample_ids = (
        sample_ids
        if isinstance(sample_ids, pa.Array | pa.ChunkedArray)
        else pa.array(sample_ids, type=pa.large_string())
    )
    position = pc.index_in(pc.cast(sample_ids, pa.large_string()), value_set=preds.ids)
    index = np.asarray(pc.fill_null(position, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    votes = np.full(index.shape[0], ABSTAIN, dtype=np.int16)
    found = index >= 0
    votes[found] = preds.labels[index[found]]
    if min_score is not None and preds.scores is not None:
        # Only a score below the minimum abstains: a prediction given without a score (NaN) still votes, as
        # it would with no minimum, rather than vanish from coverage unsaid.
        low = np.zeros(index.shape[0], dtype=bool)
        low[found] = preds.scores[index[found]] < min_score
        votes[low] = ABSTAIN
    return votes


def unmatched_ids(sample_ids, preds: Predictions, limit: int = 20) -> tuple[int, list[str]]:
    """How many predicted ids match no sample, and the first few of them."""
    sample_ids = (
        sample_ids
        if isinstance(sample_ids, pa.Array | pa.ChunkedArray)
        else pa.array(sample_ids, type=pa.large_string())
    )
    present = pc.is_in(preds.ids, value_set=pc.cast(sample_ids, pa.large_string()))
    missing = pc.filter(preds.ids, pc.invert(present))
    return len(missing), [str(v) for v in missing.slice(0, limit).to_pylist()]
