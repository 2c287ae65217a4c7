"""Every config in configs/: it loads, reaches fcn_mm through the runtime
base, says in its name what it holds (mmseg's zoo scheme) and builds its
model; the bases are mmseg's plus only what fcn_mm adds; the ResNet models
have the strides and widths of the paper and of torchvision, and load their
ImageNet weights through the backbone's init_cfg as mmseg 0.x's
model.pretrained did, without its deprecation warning; FCN-8s (both
forms), FastFCN and the torchvision FCN train two iterations on the
synthetic VOC set."""
import copy
import functools
import re
import warnings
from pathlib import Path

import mmseg
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
# What 'mmseg::_base_/...' resolves to: the configs packaged with mmseg.
MMSEG_BASES = Path(mmseg.__file__).parent / '.mim' / 'configs' / '_base_'
CONFIGS = sorted(
    p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
IDS = [p.relative_to(CONFIG_DIR).as_posix() for p in CONFIGS]
RESNET_CONFIGS = [p for p in CONFIGS
                  if p.parent.name in ('fastfcn', 'fcn_torchvision')]
NUM_CLASSES = {'ade20k': 150, 'voc12aug': 21}
# mmseg's zoo: {model}_{backbone}[_{parts}]_{gpus}x{batch}-{schedule}_
# {dataset}-{crop}; the authors' FastFCN layouts name the source instead of a
# schedule. The Caffe-exact FCNs are named after the weights they evaluate,
# fcn8s_voc_aug.py by the product, the own-data template by its purpose.
ZOO = re.compile(r'(?P<model>[a-z0-9]+)_(?P<backbone>[a-z0-9]+(-[a-z0-9]+)*)'
                 r'(_(?P<parts>[a-z]+(_[a-z]+)*))?_'
                 r'((?P<gpus>\d+)xb(?P<batch>\d+)-(?P<iters>\d+)(?P<unit>k|it)'
                 r'|authors)_(?P<dataset>ade20k|voc12aug)(-seg11valid)?-'
                 r'(?P<crop>\d+)x(?P=crop)')
NAMED_OTHERWISE = re.compile(r'fcn8s_voc_aug|fcn(8s|16s|32s|8s-atonce)-caffe'
                             r'_vgg16_voc12|fcn8s_vgg16_custom-dataset')
RESNET_NAME = re.compile(r'(?P<model>[a-z]+)_r(?P<depth>\d+)b?-d(?P<stride>'
                         r'\d+)_.*')


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> Config:
    """Each config once: resolving mmseg's packaged bases takes a second."""
    return Config.fromfile(path)


def load(path: Path) -> Config:
    return copy.deepcopy(_load(path))


def unscoped(value):
    """``value`` without the ``_scope_='mmseg'`` keys that mmengine adds to
    what a package base holds."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(map(unscoped, value))
    return value


def build(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Build the model; on 'meta' only the modules and shapes exist."""
    with torch.device(device):
        return MODELS.build(copy.deepcopy(cfg.model))


def deprecated_pretrained(caught: list) -> list:
    """The warnings mmseg 1.x's ResNet gives when it is handed mmseg 0.x's
    ``model.pretrained`` instead of a backbone ``init_cfg``."""
    return [w for w in caught
            if 'pretrained is a deprecated' in str(w.message)]


def test_configs_are_found(demo_config):
    names = set(IDS)
    assert {'fcn8s_voc_aug.py', demo_config.relative_to(CONFIG_DIR).as_posix()
            } <= names
    assert len(RESNET_CONFIGS) == 33
    for head in ('fcn', 'enc', 'psp'):
        for iters in (80, 120, 160):
            for depth in (50, 101):
                assert (f'fastfcn/fastfcn_r{depth}-d32_jpu_{head}_4xb4-'
                        f'{iters}k_ade20k-512x512.py') in names


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_loads_builds_and_its_name_says_what_it_holds(path):
    cfg = load(path)
    assert cfg.custom_imports.imports == ['fcn_mm'], \
        'every config must reach fcn_mm through the runtime base'
    assert cfg.default_scope == 'mmseg'
    # mmseg 0.x's model.pretrained: mmseg 1.x's ResNet warns it is deprecated.
    assert 'pretrained' not in cfg.model
    model = build(cfg, 'meta')
    assert model.decode_head.num_classes == cfg.model.decode_head.num_classes
    if NAMED_OTHERWISE.fullmatch(path.stem):
        return
    name = ZOO.fullmatch(path.stem)
    assert name, f'{path.stem} does not follow the mmseg zoo naming'
    assert model.decode_head.num_classes == NUM_CLASSES[name['dataset']]
    crop = int(name['crop'])
    assert tuple(cfg.model.data_preprocessor.size) == (crop, crop)
    assert ('seg11valid' in path.stem) == (
        'seg11valid' in cfg.test_dataloader.dataset.get('ann_file', ''))
    if name['iters']:
        assert cfg.train_dataloader.batch_size == int(name['batch'])
        scale = 1000 if name['unit'] == 'k' else 1
        assert cfg.train_cfg.max_iters == int(name['iters']) * scale
        # Schedules end where the poly decay ends.
        assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters


@pytest.mark.parametrize('path', [
    p for p in CONFIGS if p.parent.name != 'demo'
], ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_leaves_are_short_deltas_over_their_bases(path):
    lines = path.read_text().splitlines()
    # The own-data template also restates the dataset (issue 10: <= ~20).
    budget = 20 if path.parent.name == 'custom' else 15
    assert lines[0].startswith('# ') and len(lines) <= budget


@pytest.mark.parametrize('iters', [20, 40, 80, 160])
def test_schedules_are_mmsegs_keeping_three_checkpoints(iters):
    ours = load(CONFIG_DIR / '_base_' / 'schedules' / f'schedule_{iters}k.py')
    hooks = ours.default_hooks
    assert hooks.checkpoint.pop('max_keep_ckpts') == 3
    assert hooks.pop('non_finite') == dict(type='NonFiniteGuardHook')
    assert hooks.checkpoint.type == 'AtomicCheckpointHook'
    hooks.checkpoint.type = 'CheckpointHook'  # the subclass adds no options
    mmseg = Config.fromfile(
        MMSEG_BASES / 'schedules' / f'schedule_{iters}k.py').to_dict()
    assert unscoped(ours.to_dict()) == mmseg


@pytest.mark.parametrize('base, mmseg_base', [
    ('voc12_aug.py', 'pascal_voc12_aug.py'),
    ('ade20k.py', 'ade20k.py'),
])
def test_dataset_bases_are_mmsegs_plus_the_label_check(base, mmseg_base):
    ours = load(CONFIG_DIR / '_base_' / 'datasets' / base)
    mmseg = Config.fromfile(MMSEG_BASES / 'datasets' / mmseg_base)

    def without_check(pipeline):
        # The class count comes from the dataset's metainfo.
        checks = [t for t in pipeline if t['type'] == 'CheckSegLabels']
        assert checks == [dict(type='CheckSegLabels')]
        return [t for t in pipeline if t['type'] != 'CheckSegLabels']

    def checked(dataset, mmseg_dataset):
        assert dataset.pop('type') == 'Checked' + mmseg_dataset['type']
        dataset.type = mmseg_dataset['type']

    train = ours.train_dataloader.dataset
    for ours_set, mmseg_set in zip(train.get('datasets', [train]),
                                   mmseg.train_dataloader.dataset.get(
                                       'datasets',
                                       [mmseg.train_dataloader.dataset])):
        assert unscoped(without_check(ours_set.pipeline)) == \
            mmseg_set.pipeline
        ours_set.pipeline = mmseg_set.pipeline
        checked(ours_set, mmseg_set)
    for loader in ('val_dataloader', 'test_dataloader'):
        test_set = ours[loader].dataset
        assert unscoped(without_check(test_set.pipeline)) == \
            mmseg[loader].dataset.pipeline
        test_set.pipeline = mmseg[loader].dataset.pipeline
        checked(test_set, mmseg[loader].dataset)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'tta_pipeline'):
        assert unscoped(ours[key].to_dict() if key != 'tta_pipeline' else
                        ours[key]) == mmseg[key], key


@pytest.mark.parametrize('path', RESNET_CONFIGS,
                         ids=[p.relative_to(CONFIG_DIR).as_posix()
                              for p in RESNET_CONFIGS])
def test_resnet_configs_have_the_papers_strides_and_widths(path):
    name = RESNET_NAME.fullmatch(path.stem)
    cfg = load(path)
    model = cfg.model
    depth = int(name['depth'])
    assert model.backbone.depth == depth
    assert model.auxiliary_head.num_classes == model.decode_head.num_classes
    assert model.backbone.norm_cfg.type == 'SyncBN'
    if 'authors' in path.stem:
        # Converted checkpoints hold every weight; nothing to initialise.
        assert model.backbone.init_cfg is None
        assert model.backbone.stem_channels == 128
        assert model.neck.deep_first and model.neck.align_corners
    else:
        kind = 'torchvision' if 'torchvision' in str(path) else 'v1c'
        # A local file: nothing downloads. R-101 leaves set only the file;
        # mmengine merges it into the R-50 base's Pretrained dict.
        assert model.backbone.init_cfg == dict(
            type='Pretrained',
            checkpoint=f'checkpoints/resnet{depth}_{kind}.pth')
    if model.decode_head.type == 'EncHead':
        assert model.decode_head.use_se_loss
        assert model.decode_head.loss_se_decode.use_sigmoid

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        net = build(cfg, 'meta')
    assert not deprecated_pretrained(caught)
    assert any(isinstance(m, nn.SyncBatchNorm) for m in net.modules())
    assert len(net.backbone.layer3) == {50: 6, 101: 23}[depth]
    last = [(b.conv2.stride[0], b.conv2.dilation[0])
            for b in net.backbone.layer4]
    if name['stride'] == '32':  # FastFCN: plain stride 2, no dilation
        assert last == [(2, 1), (1, 1), (1, 1)]
        assert net.neck.dilations == (1, 2, 4, 8)
    else:  # dilated: stride 1, dilation 2 in the first block, 4 after
        assert last == [(1, 2), (1, 4), (1, 4)] and not net.with_neck


@pytest.mark.parametrize('config', [
    'fastfcn/fastfcn_r50-d32_jpu_fcn_4xb4-20k_voc12aug-512x512.py',
    'fastfcn/dilatedfcn_r50-d8_fcn_4xb4-80k_ade20k-512x512.py',
    'fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py',
])
def test_feature_strides(config):
    net = build(load(CONFIG_DIR / config)).eval()
    with torch.no_grad():
        sizes = [f.shape[-1] for f in net.backbone(torch.randn(1, 3, 64, 64))]
        feats = net.extract_feat(torch.randn(1, 3, 64, 64))
    if 'd32' in config:  # c2, c3, c4 at 1/8, 1/16, 1/32; JPU back to 1/8
        assert sizes == [8, 4, 2]
        assert feats[2].shape[1:] == (2048, 8, 8)
    else:  # dilated baselines keep 1/8 from layer2 on
        assert sizes[-3:] == [8, 8, 8]
        assert feats[-1].shape[1:] == (2048, 8, 8)


def test_torchvision_config_dilates_as_torchvision():
    model = build(load(CONFIG_DIR / 'fcn_torchvision' /
                       'fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py'), 'meta')
    backbone = model.backbone
    assert backbone.conv1.kernel_size == (7, 7)  # torchvision's stem
    # replace_stride_with_dilation=[False, True, True]: the first block of
    # layer3/layer4 keeps the previous dilation (1/2), the others double it.
    dilations = [[block.conv2.dilation[0] for block in layer]
                 for layer in (backbone.layer3, backbone.layer4)]
    assert dilations == [[1, 2, 2, 2, 2, 2], [2, 4, 4]]
    assert backbone.layer2[0].conv2.stride == (2, 2)  # pytorch style
    assert backbone.layer3[0].downsample[0].stride == (1, 1)
    assert model.decode_head.convs[0].conv.weight.shape == (512, 2048, 3, 3)
    assert model.auxiliary_head.convs[0].conv.weight.shape == (256, 1024, 3,
                                                               3)


@pytest.mark.parametrize('config, neck, head_channels', [
    ('fastfcn/fastfcn_r101-d32_jpu_fcn_4xb4-20k_voc12aug-512x512.py',
     dict(in_channels=(64, 128, 256), mid_channels=8), 32),  # fused: 4 x 8
    ('fcn_torchvision/fcn_r101b-d8_4xb4-20k_voc12aug-512x512.py', None, 256),
])
def test_backbone_init_cfg_loads_what_model_pretrained_loaded(
        config, neck, head_channels, tmp_path):
    cfg = load(CONFIG_DIR / config)
    # 1/8 width: c2, c3, c4 have 64, 128, 256 channels.
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    if neck:
        cfg.model.neck.update(neck)
    cfg.model.decode_head.in_channels = head_channels
    cfg.model.auxiliary_head = None
    init_cfg = cfg.model.backbone.pop('init_cfg')
    # An ImageNet-style backbone checkpoint: unprefixed keys, random values.
    torch.manual_seed(1)
    weights = {k: torch.randn_like(v) if v.is_floating_point() else v + 7
               for k, v in MODELS.build(cfg.model.backbone).state_dict()
               .items()}
    path = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=weights), path)
    old = copy.deepcopy(cfg.model)  # mmseg 0.x's spelling, as the configs had
    old.pretrained = path
    new = copy.deepcopy(cfg.model)
    new.backbone.init_cfg = dict(init_cfg, checkpoint=path)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='pretrained is a deprecated'):
        before = MODELS.build(old)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        after = MODELS.build(new)
    assert not deprecated_pretrained(caught)
    states = []
    for model in (before, after):
        torch.manual_seed(2)
        model.init_weights()
        states.append(model.state_dict())
        loaded = model.backbone.state_dict()
        assert loaded.keys() == weights.keys()
        assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    # The rest (neck, heads) is initialised the same way too.
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def two_iterations(cfg: Config, data_root: str, work_dir: Path) -> Config:
    """``cfg`` on the synthetic VOC set: 2 images a batch, 2 iterations,
    no validation, a log line each iteration."""
    cfg.work_dir = str(work_dir)
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.data_root = data_root
    cfg.train_dataloader.update(
        batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.logger.interval = 1
    return cfg


def train_losses(runner: Runner) -> list:
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    return losses


@pytest.mark.parametrize('mode', ['caffe', 'modern'])
def test_fcn8s_trains_two_iterations(mode, demo_config, demo_voc_root,
                                     tmp_path):
    cfg = two_iterations(load(demo_config), demo_voc_root, tmp_path)
    cfg.model.backbone.mode = cfg.model.decode_head.mode = mode
    if mode == 'caffe':
        cfg.model.backbone.norm_cfg = None
    cfg.default_hooks.checkpoint.interval = 2
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    after = runner.model.state_dict()
    assert (tmp_path / 'iter_2.pth').is_file()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith('backbone.conv1_1') for k in changed)
    # the reference net keeps its bilinear upsampling frozen
    upscore_changed = 'decode_head.upscore8.weight' in changed
    assert upscore_changed == (mode == 'modern')
    train_losses(runner)


@pytest.mark.parametrize('config, moved', [
    ('fastfcn/fastfcn_r50-d32_jpu_fcn_4xb4-20k_voc12aug-512x512.py',
     ('backbone.stem.0.weight', 'neck.dilation_layers.3.0.pointwise_conv.'
      'conv.weight', 'decode_head.conv_seg.weight',
      'auxiliary_head.conv_seg.weight')),
    ('fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py',
     ('backbone.conv1.weight', 'backbone.layer4.2.conv2.weight',
      'decode_head.conv_seg.weight', 'auxiliary_head.conv_seg.weight')),
])
def test_resnet_configs_train_two_iterations(config, moved, demo_voc_root,
                                             tmp_path):
    cfg = two_iterations(load(CONFIG_DIR / config), demo_voc_root, tmp_path)
    # 64x64 crops, no ImageNet weights, no checkpoint (55M parameters).
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (64, 64)
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomCrop', crop_size=(64, 64)),
            dict(type='PackSegInputs'),
        ]
    cfg.default_hooks.checkpoint = None
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    # Not distributed: mmengine turned every SyncBN into a BN.
    assert not any(isinstance(m, nn.SyncBatchNorm)
                   for m in runner.model.modules())
    before = {k: runner.model.state_dict()[k].clone() for k in moved}
    runner.train()
    for key in moved:
        assert not torch.equal(before[key], runner.model.state_dict()[key])
    train_losses(runner)
    assert runner.message_hub.get_scalar('train/aux.loss_ce') is not None
