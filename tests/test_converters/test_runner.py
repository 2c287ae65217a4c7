"""The shared runner: expected keys and shapes come from the target model, so
a model change the table does not know is an error, not a silent gap; fully
connected weights fit the conv they become and nothing else; config options
are reported only where the source differs from the config."""
import pytest
import torch
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.converters import ConversionError
from fcn_mm.converters.runner import convert, shifted, source_key, target_model

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')
TINY = dict(type='FCNVGG16', stage_channels=(2, 2, 2, 2, 2), fc_channels=3)
SAME_NAMES = [(r'', '')]  # every key read from the same key


def weights(**changes):
    """A tiny FCNVGG16's own state dict, random."""
    torch.manual_seed(0)
    model = MODELS.build(dict(TINY, **changes))
    return {k: torch.randn(v.shape) for k, v in model.state_dict().items()}


def test_rules_read_the_first_match_and_keep_the_rest_of_the_key():
    rules = [(r'neck\.layers\.(\d+)\.', shifted('jpu.conv{}.', 3)),
             (r'neck\.', 'jpu.'), (r'backbone\.(\w+)\.conv\.', r'\1.')]
    assert source_key(rules,
                      'neck.layers.0.bn.weight') == 'jpu.conv3.bn.weight'
    assert source_key(rules, 'neck.other.weight') == 'jpu.other.weight'
    assert source_key(rules, 'backbone.fc6.conv.bias') == 'fc6.bias'
    assert source_key(rules, 'decode_head.conv_seg.bias') is None


def test_a_layer_the_table_does_not_know_is_an_error():
    """A model that gains layers (here BN after each conv) makes the
    converter fail by name instead of leaving them at their init."""
    source = weights()
    converted = convert(source, [(r'(\w+)\.conv\.', r'\1.conv.')],
                        model=TINY, source='src', target='tiny')
    assert all(torch.equal(converted[k], source[k]) for k in source)
    with pytest.raises(ConversionError,
                       match=r'tiny has conv1_1\.bn\.weight, which no rule '
                       'of the src converter reads'):
        convert(source, [(r'(\w+)\.conv\.', r'\1.conv.')],
                model=dict(TINY, norm_cfg=dict(type='BN')), source='src',
                target='tiny')


def test_batch_norm_step_counts_are_optional():
    bn = dict(norm_cfg=dict(type='BN'))
    source = weights(**bn)
    old = {k: v for k, v in source.items()
           if not k.endswith('num_batches_tracked')}
    assert len(old) < len(source)
    converted = convert(old, SAME_NAMES, model=dict(TINY, **bn), source='s',
                        target='t')
    assert converted.keys() == old.keys()


def test_fully_connected_weights_fit_the_conv_they_become():
    source = weights()
    conv = source['fc6.conv.weight']  # (3, 2, 7, 7)
    source['fc6.conv.weight'] = conv.flatten(1)  # (3, 98), a Linear's
    converted = convert(source, SAME_NAMES, model=TINY, source='s',
                        target='t')
    assert torch.equal(converted['fc6.conv.weight'], conv)
    source['fc6.conv.weight'] = conv.flatten(1)[:, :97]
    with pytest.raises(ConversionError,
                       match=r'^fc6\.conv\.weight: expected shape '
                       r'\(3, 2, 7, 7\) \(for fc6\.conv\.weight\), found '
                       r'\(3, 97\)'):
        convert(source, SAME_NAMES, model=TINY, source='s', target='t')


def test_weights_that_are_not_finite_are_refused():
    source = weights()
    source['conv3_1.conv.weight'][0, 0, 0, 0] = float('nan')
    source['fc7.conv.bias'][1] = float('inf')
    with pytest.raises(ConversionError,
                       match=r'^conv3_1\.conv\.weight: holds NaN or infinite '
                       r'values; fc7\.conv\.bias: holds NaN'):
        convert(source, SAME_NAMES, model=TINY, source='s', target='t')


def test_all_problems_are_named_in_one_message():
    source = weights()
    del source['conv2_2.conv.bias']
    source['conv9_9.conv.weight'] = torch.zeros(1)
    with pytest.raises(ConversionError) as error:
        convert(source, SAME_NAMES, model=TINY, source='tiny VGG',
                target='FCNVGG16', dropped=['fc8.weight'])
    assert str(error.value) == (
        'missing key(s) conv2_2.conv.bias, which FCNVGG16 has; unexpected '
        'key(s) conv9_9.conv.weight, layers that FCNVGG16 does not have. The '
        'tiny VGG checkpoint does not fit FCNVGG16: it is incomplete, '
        'corrupt or of another variant; check that it is the checkpoint '
        'meant')


def test_options_are_what_differs_from_the_config_and_class_defaults():
    model, options = target_model(
        '_base_/models/fcn8s_vgg16_caffe.py', {
            'backbone.stage_channels': (64, 128, 256, 512, 512),  # default
            'backbone.fc_channels': 24,  # FCNVGG16's default is 4096
            'decode_head.num_classes': 21,  # the config's
            'decode_head.in_channels': [256, 512, 24],
        },
        preset={'decode_head.num_skips': 0})
    assert options == {
        'model.backbone.fc_channels': 24,
        'model.decode_head.in_channels': [256, 512, 24]
    }
    assert model.decode_head.num_skips == 0
    assert model.backbone.fc_channels == 24
    with pytest.raises(FileNotFoundError, match='configs/absent.py'):
        target_model('absent.py', {})
