"""How the labeling pages write numbers: shares as percentages, "n/a" for a figure that does not exist."""

from django import template

register = template.Library()


@register.filter
def pct(value, digits=1):
    """0.5962 -> "59.6 %"; None -> "n/a" (a figure without data is not 0)."""
    if value is None or value == "":
        return "n/a"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def width(value):
    """A share as a CSS width percentage for the bars (0 when unknown)."""
    if value is None or value == "":
        return "0"
    return f"{max(0.0, min(1.0, float(value))) * 100:.1f}"


@register.filter
def share(part, whole):
    if not whole:
        return None
    return part / whole


@register.filter
def dec(value, digits=3):
    if value is None or value == "":
        return "n/a"
    return f"{float(value):.{int(digits)}f}"
