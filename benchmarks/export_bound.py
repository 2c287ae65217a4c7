"""The export check's derived bound on a real-size FCN-8s, and a wrong graph.

Exports ``configs/fcn8s_voc_aug.py`` with seeded random weights (the tests'
``randomise``), and a copy whose conv3_1 weight is scaled by 1.01, then runs
:func:`fcn_mm.apis.export.check_onnx` on both at the given sizes: the float32
error of PyTorch and of onnxruntime against float64, the bound derived from
them (:mod:`fcn_mm.numerics`), and whether each graph passes. Run it under
``ONEDNN_MAX_CPU_ISA=AVX2`` or ``AVX512_CORE`` to see the bound on an older
CPU; the README's table in "Deploy and fast inference" comes from it.

    python benchmarks/export_bound.py --sizes 321x257 641x513
"""
import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The tests' seeded weights and graph editing, so the numbers match theirs.
sys.path[:0] = [str(REPO / 'tests'), str(REPO / 'tests' / 'test_deploy')]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=['321x257'],
                        help='check sizes as HxW')
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split('x')) for s in args.sizes]

    from fcn_mm.engine.console import filter_upstream_warnings
    filter_upstream_warnings()
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import fcn_mm  # noqa: F401  (registers the models)
    from benchmarks.machine import describe_machine
    from families import randomise
    from fcn_mm.apis.export import check_onnx, export_onnx
    from test_export_onnx import scale_onnx_weight
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(REPO / 'configs' / 'fcn8s_voc_aug.py'))
    cfg.model.backbone.pop('init_cfg', None)  # no ImageNet weights needed
    model = randomise(MODELS.build(cfg.model)).eval()
    right = export_onnx(model, sample_size=(256, 256))
    wrong = scale_onnx_weight(right, 'conv3_1.conv.weight', 1.01)
    import torch
    print(describe_machine(torch.get_num_threads()))
    print('| graph | H x W | max abs logit | PyTorch fp32 error | onnxruntime '
          'error | bound | passed | argmax agreement | seconds |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, graph in (('right', right), ('conv3_1 x 1.01', wrong)):
        for size in sizes:
            start = time.perf_counter()
            [r] = check_onnx(graph, model, [size])
            print(f"| {name} | {size[0]} x {size[1]} | "
                  f"{r['max_abs_logit']:.3g} | {r['float32_error']:.3g} | "
                  f"{r['onnx_error']:.3g} | {r['bound']:.3g} | "
                  f"{r['passed']} | {100 * r['label_agreement']:.3f}% | "
                  f'{time.perf_counter() - start:.0f} |', flush=True)
    if os.environ.get('ONEDNN_MAX_CPU_ISA'):
        print(f"(oneDNN capped at {os.environ['ONEDNN_MAX_CPU_ISA']})")


if __name__ == '__main__':
    main()
