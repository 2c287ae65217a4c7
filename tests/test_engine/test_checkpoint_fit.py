"""fcn_mm.engine.checkpoint.fit_checkpoint_to_model: a checkpoint whose keys or
shapes differ from the model's is refused with the keys and both shapes named
(testing, resuming), or its misfits are skipped so that the rest loads without
mmengine's warning (fine-tuning)."""
import logging
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_state_dict
from torch import nn

from fcn_mm.engine.checkpoint import (CheckpointMismatchError,
                                      fit_checkpoint_to_model)
from fcn_mm.errors import FcnMmError


class _Head(nn.Module):

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv_seg = nn.Conv2d(8, num_classes, 1)


class _Segmentor(nn.Module):
    """Names as mmseg's: ``backbone.*``, ``decode_head.conv_seg.*``."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.decode_head = _Head(num_classes)


def _checkpoint(num_classes: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return {'state_dict': _Segmentor(num_classes).state_dict(), 'meta': {}}


def test_another_class_count_is_refused_with_keys_and_shapes():
    with pytest.raises(CheckpointMismatchError) as error:
        fit_checkpoint_to_model(
            _Segmentor(5), _checkpoint(21), filename='voc.pth', strict=True)
    message = str(error.value)
    assert message.startswith('Checkpoint voc.pth does not fit the model')
    assert ('decode_head.conv_seg.weight: checkpoint (21, 8, 1, 1), model '
            '(5, 8, 1, 1); decode_head.conv_seg.bias: checkpoint (21,), '
            'model (5,).') in message
    assert '--cfg-options load_from=voc.pth' in message
    assert 'backbone' not in message
    # The tools end on every FcnMmError with one line; code that caught
    # ValueError still does.
    assert isinstance(error.value, FcnMmError)
    assert isinstance(error.value, ValueError)
    assert error.value.filename == 'voc.pth'


def test_missing_and_unexpected_keys_are_named():
    checkpoint = _checkpoint(5)
    del checkpoint['state_dict']['backbone.0.bias']
    checkpoint['state_dict']['auxiliary_head.conv.weight'] = torch.ones(2)
    with pytest.raises(CheckpointMismatchError) as error:
        fit_checkpoint_to_model(
            _Segmentor(5), checkpoint, filename='x.pth', strict=True)
    assert error.value.problems == [
        'auxiliary_head.conv.weight: in the checkpoint, not in the model',
        'backbone.0.bias: in the model, not in the checkpoint'
    ]


def test_a_fitting_checkpoint_passes_unchanged():
    checkpoint = _checkpoint(5)
    # As DDP saves it, and without BN's counter (older checkpoints, and
    # converter outputs): mmengine strips the prefix and allows the counter.
    state_dict = OrderedDict(
        (f'module.{key}', value)
        for key, value in checkpoint['state_dict'].items()
        if not key.endswith('num_batches_tracked'))
    kept = dict(state_dict)
    checkpoint['state_dict'] = state_dict
    assert fit_checkpoint_to_model(
        _Segmentor(5), checkpoint, filename='x.pth', strict=True) == []
    assert checkpoint['state_dict'] == kept


def test_many_misfits_are_counted_not_all_listed():
    checkpoint = {'state_dict': {f'extra.{i}': torch.ones(1)
                                 for i in range(20)}}
    checkpoint['state_dict'].update(_checkpoint(5)['state_dict'])
    with pytest.raises(CheckpointMismatchError) as error:
        fit_checkpoint_to_model(
            _Segmentor(5), checkpoint, filename='x.pth', strict=True)
    assert len(error.value.problems) == 9
    assert error.value.problems[-1] == '12 more'


def test_fine_tuning_skips_misfits_and_loads_the_rest_without_warnings():
    model = _Segmentor(5)
    head_before = {k: v.clone()
                   for k, v in model.decode_head.state_dict().items()}
    checkpoint = _checkpoint(21, seed=1)
    source = {k: v.clone() for k, v in checkpoint['state_dict'].items()}
    checkpoint['state_dict']['auxiliary_head.conv.weight'] = torch.ones(2)

    skipped = fit_checkpoint_to_model(
        model, checkpoint, filename='voc.pth', strict=False)
    assert skipped == [
        'decode_head.conv_seg.weight: checkpoint (21, 8, 1, 1), model '
        '(5, 8, 1, 1)',
        'decode_head.conv_seg.bias: checkpoint (21,), model (5,)',
        'auxiliary_head.conv.weight: in the checkpoint, not in the model',
    ]
    logger = MMLogger.get_instance('test_checkpoint_fit', log_level='DEBUG')
    with _records(logger) as records:
        load_state_dict(model, checkpoint['state_dict'], logger=logger)
    assert records == []  # mmengine found an exact match: nothing to say
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, source[f'backbone.{key}']), key
    for key, value in model.decode_head.state_dict().items():
        assert torch.equal(value, head_before[key]), key


class _records:
    """Collects the records a logger emits inside the ``with``."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger, self.records = logger, []
        self.handler = logging.Handler()
        self.handler.emit = self.records.append

    def __enter__(self) -> list:
        self.logger.addHandler(self.handler)
        return self.records

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)
