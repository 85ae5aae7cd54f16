"""An external service as a source: an HTTP endpoint the team already runs that labels a batch of texts.

The protocol: POST JSON {"texts": [...]} and get back {"labels": [...]} of the same length, each a class
name, a class index, or null to abstain. Calls are batched, bounded by a timeout, and retried with backoff
on connection errors and 5xx answers (a 4xx is the service refusing the request and is not retried).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from .matrix import ABSTAIN

MAX_BATCH = 1000
MAX_RESPONSE_BYTES = 50 * 1024 * 1024


class ServiceLFError(RuntimeError):
    """The service could not label the texts; the message says what it answered."""


@dataclass(frozen=True)
class ServiceConfig:
    url: str
    batch_size: int = 64
    timeout: float = 10.0
    max_retries: int = 2


def parse_service_config(config: dict, allowed_hosts: list[str]) -> ServiceConfig:
    if not isinstance(config, dict):
        raise ValueError("config must be an object")
    url = str(config.get("url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("give the service's URL, starting with http:// or https://")
    if parts.hostname not in allowed_hosts and "*" not in allowed_hosts:
        # Without this a labeling function could make the worker call any address it can reach.
        allowed = ", ".join(allowed_hosts) or "none configured"
        raise ValueError(
            f"the host {parts.hostname!r} is not allowed for services (CHORUS_SERVICE_HOSTS; allowed: {allowed})"
        )

    def number(name, default, low, high, kind):
        raw = config.get(name, default)
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number") from None
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}")
        return value

    return ServiceConfig(
        url=url,
        batch_size=number("batch_size", 64, 1, MAX_BATCH, int),
        timeout=number("timeout", 10.0, 0.1, 300.0, float),
        max_retries=number("max_retries", 2, 0, 10, int),
    )


def _post(cfg: ServiceConfig, texts: list[str]) -> list:
    body = json.dumps({"texts": texts}).encode()
    request = urllib.request.Request(
        cfg.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=cfg.timeout) as response:  # noqa: S310 (scheme checked)
        data = response.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise ServiceLFError(f"the service at {cfg.url} answered more than {MAX_RESPONSE_BYTES} bytes")
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ServiceLFError(f"the service at {cfg.url} did not answer JSON ({exc.msg})") from None
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(labels, list) or len(labels) != len(texts):
        raise ServiceLFError(
            f'the service at {cfg.url} must answer {{"labels": [...]}} with {len(texts)} entries'
        )
    return labels


def _call(cfg: ServiceConfig, texts: list[str], sleep=time.sleep) -> list:
    attempt = 0
    while True:
        try:
            return _post(cfg, texts)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt >= cfg.max_retries:
                raise ServiceLFError(
                    f"the service at {cfg.url} answered HTTP {exc.code} ({exc.reason})"
                ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt >= cfg.max_retries:
                reason = getattr(exc, "reason", exc)
                raise ServiceLFError(
                    f"the service at {cfg.url} could not be reached after {attempt + 1} tries ({reason})"
                ) from None
        attempt += 1
        sleep(min(0.2 * 2**attempt, 5.0))


def label_texts(cfg: ServiceConfig, texts: list[str], labels: list[str]) -> np.ndarray:
    """Votes for the texts, asking the service one batch at a time."""
    votes = np.full(len(texts), ABSTAIN, dtype=np.int16)
    for begin in range(0, len(texts), cfg.batch_size):
        batch = texts[begin : begin + cfg.batch_size]
        answers = _call(cfg, batch)
        for offset, answer in enumerate(answers):
            votes[begin + offset] = _vote(answer, labels, cfg.url)
    return votes


def _vote(answer, labels: list[str], url: str) -> int:
    if answer is None or answer == -1 or answer == "ABSTAIN":
        return ABSTAIN
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(labels):
        return answer
    if isinstance(answer, str) and answer in labels:
        return labels.index(answer)
    raise ServiceLFError(
        f"the service at {url} answered {answer!r}, which is not one of {', '.join(labels)} or null"
    )
