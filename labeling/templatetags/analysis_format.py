"""How the analysis pages write changes since the previous run and sort links."""

from django import template
from django.utils.http import urlencode

register = template.Library()


@register.filter
def delta_pts(value):
    """A change of a share, in percentage points: 0.012 -> "+1.2 pts"; None -> "" (nothing to compare)."""
    if value is None:
        return ""
    points = float(value) * 100
    if abs(points) < 0.05:
        return "±0"
    return f"{points:+.1f} pts".replace("-", "−")


@register.filter
def delta_count(value):
    if value is None:
        return ""
    return "±0" if value == 0 else f"{int(value):+d}".replace("-", "−")


@register.filter
def trend(value):
    """A CSS class for a change: up, down or flat."""
    if value is None:
        return ""
    return "up" if value > 1e-9 else "down" if value < -1e-9 else "flat"


@register.simple_tag
def sort_query(current: str, direction: str, key: str, run=None) -> str:
    """The query string that sorts by `key`: descending first, the other way when it is the current sort."""
    flip = "asc" if current == key and direction == "desc" else "desc"
    params = {"sort": key, "dir": flip}
    if run:
        params["run"] = run
    return urlencode(params)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


METRIC_TITLES = {
    "coverage": "coverage (all samples)",
    "accuracy": "accuracy (overall)",
    "accuracy_covered": "accuracy (covered)",
    "f1_macro": "macro-F1 (overall)",
}


@register.filter
def metric_title(key: str) -> str:
    """ "dev_accuracy_covered" -> "dev accuracy (covered)"."""
    if key in METRIC_TITLES:
        return METRIC_TITLES[key]
    split, _, figure = key.partition("_")
    return f"{split} {METRIC_TITLES.get(figure, figure)}"


@register.filter
def timeuntil_seconds(finished, started) -> str:
    """How long a run took, in seconds."""
    if not finished or not started:
        return ""
    return f"{(finished - started).total_seconds():.1f} s"


@register.filter
def urlencode_dict(params) -> str:
    return urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})


@register.filter
def delta_dec(value):
    """A change of a score such as F1: 0.0123 -> "+0.012"."""
    if value is None:
        return ""
    return "±0" if abs(value) < 0.0005 else f"{float(value):+.3f}".replace("-", "−")
