"""The FastFCN, dilated-baseline and torchvision FCN configs: every one loads,
says in its name what it holds, builds its model with the strides and widths
the paper and torchvision have; FastFCN and torchvision FCN train two
iterations on the synthetic VOC set, with SyncBN reverted to BN."""
import copy
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted([
    *CONFIG_DIR.glob('fastfcn/*.py'), *CONFIG_DIR.glob('fcn_torchvision/*.py')
])
IDS = [p.relative_to(CONFIG_DIR).as_posix() for p in CONFIGS]
NUM_CLASSES = {'ade20k': 150, 'voc12aug': 21}
# mmseg-zoo names: model_backbone_[head_]gpusxbatch-schedule_dataset-crop.
NAME = re.compile(r'(?P<model>[a-z]+)_r(?P<depth>\d+)b?-d(?P<stride>\d+)_'
                  r'(?P<rest>.*)_(?P<dataset>ade20k|voc12aug)-512x512')


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Small maps: OpenMP's thread sync costs more than a second thread
    gives (100x more on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_LOADED = {}


def load(path) -> Config:
    """Each config once: resolving mmseg's packaged bases takes a second."""
    if path not in _LOADED:
        _LOADED[path] = Config.fromfile(path)
    return _LOADED[path]


def build(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Build the model; on 'meta' only the modules and shapes exist."""
    with torch.device(device):
        return MODELS.build(copy.deepcopy(cfg.model))


def test_configs_are_found():
    assert len(CONFIGS) == 33
    names = set(IDS)
    for head in ('fcn', 'enc', 'psp'):
        for iters in (80, 120, 160):
            for depth in (50, 101):
                assert (f'fastfcn/fastfcn_r{depth}-d32_jpu_{head}_4xb4-'
                        f'{iters}k_ade20k-512x512.py') in names


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_is_a_short_delta_its_name_describes(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith('# ') and len(lines) <= 15
    name = NAME.fullmatch(path.stem)
    assert name, f'{path.stem} does not follow the mmseg zoo naming'
    cfg = load(path)
    assert cfg.custom_imports.imports == ['fcn_mm']
    model = cfg.model
    depth = int(name['depth'])
    assert model.backbone.depth == depth
    assert model.decode_head.num_classes == NUM_CLASSES[name['dataset']]
    assert model.auxiliary_head.num_classes == NUM_CLASSES[name['dataset']]
    assert model.data_preprocessor.size == (512, 512)
    assert model.backbone.norm_cfg.type == 'SyncBN'
    if 'authors' in name['rest']:
        # Converted checkpoints hold every weight; nothing to initialise.
        assert model.pretrained is None
        assert model.backbone.stem_channels == 128
        assert model.neck.deep_first and model.neck.align_corners
    else:
        kind = 'torchvision' if 'torchvision' in str(path) else 'v1c'
        # A local file: nothing downloads.
        assert model.pretrained == f'checkpoints/resnet{depth}_{kind}.pth'
        schedule = re.search(r'4xb4-(\d+)k', name['rest'])
        assert cfg.train_cfg.max_iters == int(schedule[1]) * 1000
        assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters
        assert cfg.train_dataloader.batch_size == 4
    if model.decode_head.type == 'EncHead':
        assert model.decode_head.use_se_loss
        assert model.decode_head.loss_se_decode.use_sigmoid

    net = build(cfg, 'meta')
    assert any(isinstance(m, nn.SyncBatchNorm) for m in net.modules())
    assert len(net.backbone.layer3) == {50: 6, 101: 23}[depth]
    last = [(b.conv2.stride[0], b.conv2.dilation[0])
            for b in net.backbone.layer4]
    if name['stride'] == '32':  # FastFCN: plain stride 2, no dilation
        assert last == [(2, 1), (1, 1), (1, 1)]
        assert net.neck.dilations == (1, 2, 4, 8)
    else:  # dilated: stride 1, dilation 2 in the first block, 4 after
        assert last == [(1, 2), (1, 4), (1, 4)] and not net.with_neck
    assert net.decode_head.num_classes == model.decode_head.num_classes


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


def tiny_run(path, data_root, work_dir) -> Config:
    """The config on the synthetic VOC set: 64x64 crops, 2 images a batch,
    2 iterations, no ImageNet weights, no validation, no checkpoint."""
    cfg = copy.deepcopy(load(path))
    cfg.work_dir = str(work_dir)
    cfg.model.pretrained = None
    cfg.model.data_preprocessor.size = (64, 64)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=(64, 64)),
        dict(type='PackSegInputs'),
    ]
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.update(data_root=data_root, pipeline=pipeline)
    cfg.train_dataloader.update(
        batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = None  # 55M parameters: nothing to keep
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.parametrize('config, moved', [
    ('fastfcn/fastfcn_r50-d32_jpu_fcn_4xb4-20k_voc12aug-512x512.py',
     ('backbone.stem.0.weight', 'neck.dilation_layers.3.0.pointwise_conv.'
      'conv.weight', 'decode_head.conv_seg.weight',
      'auxiliary_head.conv_seg.weight')),
    ('fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py',
     ('backbone.conv1.weight', 'backbone.layer4.2.conv2.weight',
      'decode_head.conv_seg.weight', 'auxiliary_head.conv_seg.weight')),
])
def test_trains_two_iterations(config, moved, demo_voc_root, tmp_path):
    runner = Runner.from_cfg(tiny_run(CONFIG_DIR / config, demo_voc_root,
                                      tmp_path))
    # Not distributed: mmengine turned every SyncBN into a BN.
    assert not any(isinstance(m, nn.SyncBatchNorm)
                   for m in runner.model.modules())
    before = {k: runner.model.state_dict()[k].clone() for k in moved}
    runner.train()
    for key in moved:
        assert not torch.equal(before[key], runner.model.state_dict()[key])
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert runner.message_hub.get_scalar('train/aux.loss_ce') is not None
