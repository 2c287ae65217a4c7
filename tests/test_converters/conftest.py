"""Checks every converter's tests share."""
import re

import pytest
import torch

from fcn_mm.converters import ConversionError


def _names_bad_keys(convert, source: dict, *, missing: str, unexpected: str,
                    misshapen: str, shape: tuple, expected: str) -> None:
    """``convert`` refuses a source with a key removed, one added and one of
    the wrong shape, naming each; ``expected`` is the message's
    ``(C, ...) (for <fcn_mm key>)`` text for the misshapen key."""
    state = dict(source)
    del state[missing]
    with pytest.raises(ConversionError,
                       match=rf'missing key\(s\) {re.escape(missing)}'):
        convert(state)
    with pytest.raises(ConversionError,
                       match=rf'unexpected key\(s\) {re.escape(unexpected)}'):
        convert(dict(source, **{unexpected: torch.zeros(1)}))
    found = ', '.join(map(str, shape))
    with pytest.raises(ConversionError, match=re.escape(
            f'{misshapen}: expected shape {expected}, found ({found})')):
        convert(dict(source, **{misshapen: torch.zeros(shape)}))


@pytest.fixture(scope='session')
def names_bad_keys():
    """``names_bad_keys(convert, source, missing=..., unexpected=...,
    misshapen=..., shape=..., expected=...)``: see :func:`_names_bad_keys`."""
    return _names_bad_keys
