"""How the projects pages write figures: shares as percentages, coefficients with three decimals, "n/a" for a
figure that does not exist (never 0)."""

from django import template

register = template.Library()


@register.filter
def share_pct(value, digits=1):
    if value is None or value == "":
        return "n/a"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def coef(value, digits=3):
    if value is None or value == "":
        return "n/a"
    return f"{float(value):.{int(digits)}f}"
