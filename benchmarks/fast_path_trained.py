"""Does the CPU fast path keep a trained FastFCN + EncHead's labels?

Random weights say little about bf16 on a real model: their logits are
near-tied and EncHead's sigmoid gates saturate. This trains FastFCN R-50 JPU
+ EncHead at half width (every channel count halved; BN, no auxiliary head)
from scratch on the demo set, exactly as the demo trains FCN-8s, then runs
``tools/test.py`` in float32 and with ``--fast-path bf16`` on the demo val set
and on the real VOC samples, and reports both mIoUs and the fraction of
pixels labelled the same. Needs the demo data (``bash tools/demo.sh`` writes
it); about 6 minutes on a 2-core CPU.

    python benchmarks/fast_path_trained.py
"""
import argparse
import json
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEMO = 'configs/demo/fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py'
ENC = 'configs/_base_/models/fastfcn_r50-d32_jpu_enc.py'
REAL = REPO / 'tests/data/real_samples/VOCdevkit/VOC2012'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/demo/VOCdevkit/VOC2012',
                        help='the demo VOC root (tools/demo.sh writes it)')
    parser.add_argument('--real', default=str(REAL),
                        help='the real VOC samples; skipped if missing')
    parser.add_argument('--work-dir', default='work_dirs/fast_path_trained')
    parser.add_argument('--checkpoint',
                        help='compare this checkpoint of the config written '
                        'to the work dir instead of training one')
    return parser.parse_args(argv)


def write_config(data: str, work_dir: Path) -> Path:
    """The demo config with a half-width FastFCN + EncHead as its model."""
    from mmengine.config import Config

    from fcn_mm.fileio import atomic_write
    cfg = Config.fromfile(REPO / DEMO)
    model = Config.fromfile(REPO / ENC).model
    bn = dict(type='BN', requires_grad=True)
    model.backbone.update(stem_channels=32, base_channels=32, norm_cfg=bn,
                          init_cfg=None)
    model.neck.update(in_channels=(256, 512, 1024), mid_channels=256,
                      norm_cfg=bn)
    model.decode_head.update(in_channels=[256, 512, 1024], channels=256,
                             norm_cfg=bn)
    model.auxiliary_head = None
    model.data_preprocessor = cfg.model.data_preprocessor
    cfg.model = model
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.data_root = data
    cfg.val_dataloader.dataset.data_root = data
    cfg.test_dataloader.dataset.data_root = data
    path = work_dir / 'fastfcn_enc_half_demo.py'
    atomic_write(str(path), lambda f: f.write(cfg.pretty_text.encode()))
    return path


def run(*args, show: bool = False) -> str:
    """Run a tool; its stdout, or on the console (with mmengine's ETA) if
    ``show``. Exits naming the tool if it fails."""
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO,
                            capture_output=not show, text=True)
    if result.returncode:
        sys.exit(f'{" ".join(map(str, args[:2]))} failed (exit '
                 f'{result.returncode}):\n{result.stderr or ""}')
    return result.stdout


def labels(folder: Path) -> dict:
    return {p.name: np.array(Image.open(p)) for p in folder.glob('*.png')}


def compare(config: Path, ckpt: Path, work_dir: Path, name: str,
            options: list) -> dict:
    """mIoU in float32 and bf16, and the share of identical labels."""
    result = {}
    for precision, extra in (('fp32', []), ('bf16', ['--fast-path', 'bf16'])):
        out = work_dir / f'{name}_{precision}'
        stdout = run('tools/test.py', config, ckpt, '--work-dir', out,
                     '--out', out / 'labels', *extra,
                     *(['--cfg-options', *options] if options else []))
        result[f'mIoU {precision}'] = float(
            re.findall(r'Iter\(test\).*mIoU: ([\d.]+)', stdout)[-1])
        result[precision] = labels(out / 'labels')
    fp32, bf16 = result.pop('fp32'), result.pop('bf16')
    if fp32.keys() != bf16.keys() or not fp32:
        sys.exit(f'{name}: the two runs labelled different images')
    same = sum(int((fp32[k] == bf16[k]).sum()) for k in fp32)
    result['same labels %'] = 100 * same / sum(v.size for v in fp32.values())
    result['images'] = len(fp32)
    return result


def main(argv=None):
    args = parse_args(argv)
    from fcn_mm.engine.console import filter_upstream_warnings
    filter_upstream_warnings()
    if not osp.isdir(REPO / args.data):
        sys.exit(f'{args.data}: no demo data; run: bash tools/demo.sh')
    work_dir = REPO / args.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(args.data, work_dir)
    ckpt = args.checkpoint and Path(args.checkpoint).resolve()
    if ckpt is None:
        print(f'training {config} (about 5 minutes)', flush=True)
        train_dir = work_dir / 'train'
        run('tools/train.py', config, '--work-dir', train_dir, show=True)
        ckpt = train_dir / (train_dir / 'last_checkpoint').read_text().strip()
    sets = {'demo val': []}
    if osp.isdir(args.real):
        sets['real VOC val'] = [
            f'test_dataloader.dataset.data_root={args.real}',
            'test_dataloader.dataset.data_prefix.seg_map_path='
            'SegmentationClass']
    from prettytable import PrettyTable

    from fcn_mm.fileio import atomic_write
    rows = {name: compare(config, ckpt, work_dir, name.replace(' ', '_'),
                          options) for name, options in sets.items()}
    table = PrettyTable(['data', 'images', 'mIoU fp32', 'mIoU bf16',
                         'same labels %'])
    for name, row in rows.items():
        table.add_row([name, row['images'], row['mIoU fp32'],
                       row['mIoU bf16'], f"{row['same labels %']:.3f}"])
    print(table)
    atomic_write(str(work_dir / 'fast_path_trained.json'),
                 lambda f: f.write(json.dumps(rows, indent=2).encode()))


if __name__ == '__main__':
    main()
