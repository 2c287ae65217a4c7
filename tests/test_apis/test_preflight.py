"""Before a run: the LR schedule follows max_iters, and missing data or init
weights are named with where they come from."""
from pathlib import Path

import pytest
from mmengine.config import Config

from fcn_mm.apis import load_run_config
from fcn_mm.apis.preflight import (accepted_keywords, check_class_count,
                                   check_config_arguments, follow_max_iters,
                                   missing_inputs)
from fcn_mm.errors import ConfigArgumentError, ConfigError

REPO = Path(__file__).resolve().parents[2]
PRODUCT = str(REPO / 'configs' / 'fcn8s_voc_aug.py')


def test_poly_lr_follows_max_iters_from_the_command_line():
    cfg = load_run_config(PRODUCT, cfg_options={'train_cfg.max_iters': 300})
    [poly] = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.end == 300
    # Unchanged when they agree already, or when told to keep the schedule.
    assert follow_max_iters(cfg) == []
    cfg = load_run_config(PRODUCT, cfg_options={'train_cfg.max_iters': 300,
                                                'follow_max_iters': False})
    assert cfg.param_scheduler[0].end == 20000


def test_only_the_last_ending_schedulers_move():
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000),
        param_scheduler=[
            dict(type='LinearLR', by_epoch=False, begin=0, end=100),
            dict(type='PolyLR', by_epoch=False, begin=100, end=20000)]))
    assert follow_max_iters(cfg) == [
        'param_scheduler PolyLR ended at 20000; it now ends at '
        'train_cfg.max_iters=1000']
    assert [s.end for s in cfg.param_scheduler] == [100, 1000]
    cfg.train_cfg.max_iters = 50
    with pytest.raises(ValueError, match='PolyLR begins at iteration 100, '
                       'but train_cfg.max_iters is 50'):
        follow_max_iters(cfg)


def test_epoch_based_schedules_are_left_alone():
    cfg = Config(dict(train_cfg=dict(max_epochs=10),
                      param_scheduler=dict(type='PolyLR', end=20)))
    assert follow_max_iters(cfg) == []


def test_missing_voc_data_and_vgg16_weights_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(PRODUCT)
    problems = missing_inputs(cfg, training=True)
    assert ('training data: data/VOCdevkit/VOC2012/ImageSets/Segmentation/'
            'train.txt is missing; download VOCtrainval_11-May-2012.tar from '
            'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ and extract it '
            'so that data/VOCdevkit/VOC2012 is its VOCdevkit/VOC2012.') \
        in problems[0]
    assert any('ImageSets/Segmentation/aug.txt is missing; build the VOC aug '
               'set from SBD' in p and 'tools/convert_datasets/voc_aug.py'
               in p for p in problems)
    [weights] = [p for p in problems if p.startswith('init weights')]
    assert weights == (
        'init weights: checkpoints/vgg16_imagenet_fcn_mm.pth '
        '(model.backbone.init_cfg) is missing: torchvision\'s '
        'ImageNet VGG16, converted to FCNVGG16 keys, from '
        'https://download.pytorch.org/models/vgg16-397923af.pth. Run: '
        'python tools/misc/fetch_pretrained.py vgg16 (or, with the file '
        'already downloaded: python tools/misc/fetch_pretrained.py vgg16 '
        '--from FILE)')
    # A test run needs only the test data.
    assert all(p.startswith('test data') for p in
               missing_inputs(cfg, training=False))


def test_fastfcn_and_unknown_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config(dict(model=dict(
        pretrained='checkpoints/resnet50_v1c.pth',
        backbone=dict(init_cfg=[dict(type='Pretrained',
                                     checkpoint='mine/backbone.pth')]))))
    fastfcn, own = missing_inputs(cfg, training=True)
    assert 'resnet50_v1c-2cccc1ad.pth. Run: python tools/misc/' \
        'fetch_pretrained.py resnet50_v1c' in fastfcn
    assert own == ('init weights: mine/backbone.pth (model.backbone.init_cfg)'
                   ' is missing; put the checkpoint there, or train from '
                   'scratch with --cfg-options model.backbone.init_cfg=None')
    Path('checkpoints').mkdir()
    Path('checkpoints/resnet50_v1c.pth').write_bytes(b'')
    assert len(missing_inputs(cfg, training=True)) == 1


@pytest.mark.parametrize('config, weights', [
    ('fastfcn/fastfcn_r101-d32_jpu_psp_4xb4-80k_ade20k-512x512.py',
     'resnet101_v1c'),
    ('fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py',
     'resnet50_torchvision'),
    # The authors' layouts: the converted checkpoint holds every weight.
    ('fastfcn/fastfcn_r101-d32_jpu_enc_authors_ade20k-512x512.py', None),
])
def test_resnet_init_weights_are_found_in_the_backbone_init_cfg(
        config, weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(REPO / 'configs' / config)
    found = [p for p in missing_inputs(cfg, training=True)
             if p.startswith('init weights')]
    if weights is None:
        assert found == []
        return
    [problem] = found
    assert problem.startswith(
        f'init weights: checkpoints/{weights}.pth (model.backbone.init_cfg) '
        'is missing: ')
    assert problem.endswith(f'fetch_pretrained.py {weights} --from FILE)')


@pytest.mark.usefixtures('mmseg_scope')
def test_mmseg_0x_model_pretrained_becomes_the_backbone_init_cfg(recwarn):
    """The 0.x habit ``--cfg-options model.pretrained=X`` on a config whose
    backbone has an init_cfg: without the move, mmseg's ResNet stops with
    a bare "init_cfg and pretrained cannot be setting at the same time"."""
    from mmseg.registry import MODELS
    config = str(REPO / 'configs/fastfcn/'
                 'fastfcn_r50-d32_jpu_fcn_4xb4-80k_ade20k-512x512.py')
    cfg = load_run_config(config, cfg_options={
        'model.pretrained': 'my/resnet50.pth',
        'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8})
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                               checkpoint='my/resnet50.pth')
    model = MODELS.build(cfg.model.backbone)  # the part that asserted
    assert model.init_cfg['checkpoint'] == 'my/resnet50.pth'
    assert not [w for w in recwarn if 'pretrained' in str(w.message)]
    unchanged = load_run_config(PRODUCT)
    assert 'pretrained' not in unchanged.model


DEMO = str(REPO / 'configs' / 'demo' /
           'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py')


@pytest.mark.parametrize('options, key, closest', [
    # mmengine's CheckpointHook would keep these until its first save.
    ({'default_hooks.checkpoint.intervall': 2},
     'default_hooks.checkpoint.intervall', 'interval'),
    ({'default_hooks.checkpoint.max_keep_ckpt': 1},
     'default_hooks.checkpoint.max_keep_ckpt', 'max_keep_ckpts'),
    ({'default_hooks.logger.intreval': 5},
     'default_hooks.logger.intreval', 'interval'),
    ({'custom_hooks': [dict(type='NonFiniteGuardHook', max_skip=1)]},
     'custom_hooks[0].max_skip', 'max_skips'),
    ({'optim_wrapper.optimizer.weight_decy': 0.1},
     'optim_wrapper.optimizer.weight_decy', 'weight_decay'),
    ({'optim_wrapper.optimizer': dict(type='SGD', lr=0.1, momentun=0.9)},
     'optim_wrapper.optimizer.momentun', 'momentum'),
    ({'optim_wrapper.clip_gard': dict(max_norm=1.0)},
     'optim_wrapper.clip_gard', 'clip_grad'),
    ({'optim_wrapper.paramwise_cfg': dict(bias_lr_mul=2.0)},
     'optim_wrapper.paramwise_cfg.bias_lr_mul', 'bias_lr_mult'),
    ({'param_scheduler.0.powr': 0.9}, 'param_scheduler[0].powr', 'power'),
    ({'train_dataloader.num_worker': 2}, 'train_dataloader.num_worker',
     'num_workers'),
    ({'val_dataloader.batchsize': 2}, 'val_dataloader.batchsize',
     'batch_size'),
    ({'train_dataloader.sampler.shufle': True},
     'train_dataloader.sampler.shufle', 'shuffle'),
])
def test_a_typo_stops_the_run_at_its_start(options, key, closest):
    with pytest.raises(ConfigArgumentError) as info:
        load_run_config(DEMO, cfg_options=options)
    message = str(info.value)
    prefix = key.rsplit('.', 1)[0]
    assert f"{key}: " in message
    assert f'did you mean {prefix}.{closest}?' in message
    assert message.count('did you mean') == 1  # only the typo


def test_every_typo_is_listed_and_a_far_one_lists_the_valid_keys():
    with pytest.raises(ConfigArgumentError) as info:
        load_run_config(DEMO, cfg_options={
            'default_hooks.checkpoint.intervall': 2,
            'optim_wrapper.optimizer.zzz': 1})
    lines = str(info.value).splitlines()
    assert len(lines) == 4 and lines[-1].startswith('fix them in the config')
    far = next(line for line in lines if '.zzz' in line)
    assert "AdamW has no argument 'zzz'; AdamW takes " in far
    assert 'betas' in far and 'weight_decay' in far


def test_the_runner_keys_and_amp_pass():
    cfg = load_run_config(DEMO, cfg_options={
        'default_hooks.checkpoint.priority': 'VERY_LOW',
        'param_scheduler.0.convert_to_iter_based': False,
        'optim_wrapper.type': 'CPUAmpOptimWrapper',
        'optim_wrapper.accumulative_counts': 2,
        'train_dataloader.num_batch_per_epoch': 2})
    assert check_config_arguments(cfg) == []


def _one_config_per_folder():
    """The first config of each folder of configs/ (the others differ in
    models and schedule lengths, not in the classes checked here)."""
    first = {}
    for path in sorted((REPO / 'configs').rglob('*.py')):
        if '_base_' not in path.parts:
            first.setdefault(path.parent, str(path))
    return sorted(first.values())


@pytest.mark.parametrize('config', _one_config_per_folder())
def test_the_configs_pass_and_are_checked_whole(config):
    # Nothing skipped: every class the configs name takes known arguments.
    assert check_config_arguments(Config.fromfile(config)) == []


def test_kwargs_are_followed_to_the_base_that_names_them():
    from mmengine.hooks import CheckpointHook
    from mmengine.optim import AmpOptimWrapper, PolyLR

    from fcn_mm.engine import AtomicCheckpointHook
    assert {'power', 'eta_min', 'begin', 'end', 'by_epoch'} <= \
        accepted_keywords(PolyLR)
    assert {'loss_scale', 'dtype', 'clip_grad', 'accumulative_counts'} <= \
        accepted_keywords(AmpOptimWrapper)
    # CheckpointHook's **kwargs go to Runner.save_checkpoint, which takes
    # none beyond what the hook passes itself (mmengine 0.10.7).
    assert accepted_keywords(AtomicCheckpointHook) == \
        accepted_keywords(CheckpointHook)
    assert 'interval' in accepted_keywords(CheckpointHook)
    assert 'intervall' not in accepted_keywords(CheckpointHook)


class _TakesAnything:

    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_kwargs_no_base_names_are_skipped_with_the_reason():
    from mmengine.registry import HOOKS
    assert accepted_keywords(_TakesAnything) is None
    name = 'FcnMmTestTakesAnythingHook'
    HOOKS.register_module(name=name, module=_TakesAnything)
    try:
        cfg = Config(dict(custom_hooks=[dict(type=name, whatever=1)]))
        skipped = check_config_arguments(cfg)
    finally:
        HOOKS._module_dict.pop(name)
    assert skipped == [f'custom_hooks[0]: _TakesAnything takes **kwargs '
                       'that no base class names, so any key may be valid']


def test_a_head_of_another_class_count_stops_the_run_at_its_start():
    # Without the check: IndexError 'Target 15 is out of bounds' at the first
    # label beyond the head's classes, hours in.
    with pytest.raises(ConfigError) as info:
        load_run_config(PRODUCT, cfg_options={
            'model.decode_head.num_classes': 5})
    message = str(info.value)
    assert ('model.decode_head.num_classes is 5 but the train dataset '
            '(CheckedPascalVOCDataset at data/VOCdevkit/VOC2012) has 21 '
            'classes') in message
    assert 'the test dataset' in message and '--cfg-options' in message


def test_the_class_count_comes_from_the_datasets_metainfo():
    datasets = ('train_dataloader.dataset.datasets.0',  # VOC + SBD aug
                'train_dataloader.dataset.datasets.1',
                'val_dataloader.dataset', 'test_dataloader.dataset')
    options = {f'{dataset}.metainfo': dict(classes=('background', 'object'))
               for dataset in datasets}
    with pytest.raises(ConfigError, match='has 2 classes'):
        load_run_config(PRODUCT, cfg_options=options)
    cfg = load_run_config(PRODUCT, cfg_options={
        **options, 'model.decode_head.num_classes': 2})
    check_class_count(cfg)  # agrees now: no error
