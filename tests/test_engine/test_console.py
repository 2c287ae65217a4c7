"""Known upstream warnings are filtered, each by message, category and
module; anything else still shows."""
import warnings

from fcn_mm.engine.console import UPSTREAM_WARNINGS, filter_upstream_warnings


def _shown(message, category, module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        filter_upstream_warnings()
        warnings.warn_explicit(message, category, 'x.py', 1,
                               module=module or 'importlib')
    return [str(w.message) for w in caught]


def test_each_listed_warning_is_hidden_and_others_show():
    for message, category, module, reason in UPSTREAM_WARNINGS:
        assert reason
        assert _shown(message + ' (and more)', category,
                      f'{module}.sub' if module else '') == []
    # The same text from another package, or another text, still shows.
    message, category, _, _ = UPSTREAM_WARNINGS[1]
    assert _shown(message, category, 'fcn_mm.models') == [message]
    assert _shown('label 7 is out of range', UserWarning, 'mmseg.x') == [
        'label 7 is out of range']
