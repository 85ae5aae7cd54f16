"""Save-time checks of a code LF: nothing runs, the author gets a message with the line."""

from __future__ import annotations

import pytest

from labeling.engine.lfs import LFConfigError
from labeling.engine.sandbox import CodeLFError, check_code_lf


def message(source: str, **kwargs) -> str:
    with pytest.raises(CodeLFError) as caught:
        check_code_lf(source, **kwargs)
    return caught.value.message


def test_it_accepts_a_plain_lf_and_a_pasted_snorkel_lf():
    check_code_lf("def lf(x):\n    return None\n")
    check_code_lf("lf = lambda x: -1\n")
    check_code_lf(
        "from snorkel.labeling import labeling_function\n"
        "import re, math, string\n"
        "SPAM = 1\n"
        "@labeling_function(name='promo')\n"
        "def check_out(x):\n    return SPAM if re.search('check', x.text) else -1\n"
    )
    check_code_lf(
        "import snorkel.labeling\n@snorkel.labeling.labeling_function\ndef short(x):\n    return 0\n"
    )


def test_a_syntax_error_names_its_line():
    with pytest.raises(CodeLFError) as caught:
        check_code_lf("def lf(x):\n    return (x.text\n\n")
    assert caught.value.line == 2
    assert caught.value.message == "line 2: '(' was never closed"
    assert message("def lf(x)\n    return 1\n") == "line 1: expected ':'"


def test_code_without_a_labeling_function_is_refused():
    assert message("def label(x):\n    return 1\n") == (
        "no labeling function found: define `def lf(x):` or decorate one function with @labeling_function()"
    )
    assert message("   \n") == "give the code of the labeling function"


def test_several_decorated_functions_are_refused_unless_one_is_lf():
    two = (
        "from snorkel.labeling import labeling_function\n"
        "@labeling_function()\ndef a(x):\n    return 1\n"
        "@labeling_function()\ndef b(x):\n    return 0\n"
    )
    assert message(two) == "the code defines several labeling functions (a, b); keep one, or name it lf"
    check_code_lf(two + "lf = a\n")


def test_an_import_outside_the_allowed_modules_names_its_line():
    assert message("import re\n\nfrom os import path\ndef lf(x):\n    return 1\n") == (
        "line 3: module 'os' is not available in a labeling function (available: math, re, string)"
    )
    assert "module '.helpers' is not available" in message(
        "from .helpers import f\ndef lf(x):\n    return 1\n"
    )
    check_code_lf("import json\ndef lf(x):\n    return 1\n", modules=("json",))
    assert message("from snorkel.labeling.lf.nlp import nlp_labeling_function\nlf = 1\n").startswith(
        "line 1: module 'snorkel.labeling.lf.nlp' is not available"
    )


def test_check_errors_are_lf_config_errors():
    with pytest.raises(LFConfigError):
        check_code_lf("def lf(x):\n  return 1\n" + "#" * 100_001)
