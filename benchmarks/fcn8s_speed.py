"""Speed and memory of FCN-8s: fcn_mm (Caffe-exact and modern) vs pytorch-fcn.

Times one training step (forward, cross-entropy, backward, SGD step) and one
inference forward at batch 1 on a square image, and records peak memory. Each
model runs in a fresh subprocess so that its peak is its own: on CUDA the peak
of ``torch.cuda.max_memory_allocated``, on CPU the rise of the process's
maximum resident set size (``resource.getrusage``) over the built model.

pytorch-fcn (Kentaro Wada, https://github.com/wkentaro/pytorch-fcn) is run
from its own source, never copied here: ``--torchfcn-src`` points at an
unpacked ``torchfcn`` sdist (``pip download --no-deps torchfcn==1.9.7``) or an
installed ``torchfcn`` package. Its model files import ``fcn`` only to download
weights, so a stub stands in for it and the package ``__init__`` (which needs
torchvision) is skipped. Without a source the row is skipped.

Example (the FCN-8s table in the README's Benchmarks section)::

    python benchmarks/fcn8s_speed.py --torchfcn-src /tmp/dl/torchfcn-1.9.7 \
        --device cpu --warmup 1 --iters 5 --size 512
"""
import argparse
import importlib
import importlib.util
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
import types

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # benchmarks.machine
MODELS = {
    'fcn_mm FCN-8s (caffe)': 'configs/_base_/models/fcn8s_vgg16_caffe.py',
    'pytorch-fcn FCN8s': None,
    'fcn_mm FCN-8s (modern)': 'configs/_base_/models/fcn8s_vgg16.py',
}
REFERENCE = 'pytorch-fcn FCN8s'
NUM_CLASSES = 21
RESULT_TAG = 'RESULT '


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations of each kind')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations first')
    parser.add_argument('--size', type=int, default=512,
                        help='image height and width')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch CPU threads')
    parser.add_argument(
        '--torchfcn-src',
        help='pytorch-fcn source: an unpacked torchfcn sdist or the torchfcn '
        'package folder (default: an installed torchfcn, if any)')
    parser.add_argument(
        '--worker', choices=list(MODELS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def find_torchfcn_models(src):
    """The ``torchfcn/models`` folder under ``src``, or None."""
    if src is None:
        spec = importlib.util.find_spec('torchfcn')  # does not import it
        if spec is None or not spec.submodule_search_locations:
            return None
        src = list(spec.submodule_search_locations)[0]
    for folder in (osp.join(src, 'torchfcn', 'models'),
                   osp.join(src, 'models'), src):
        if all(osp.isfile(osp.join(folder, f)) for f in ('fcn8s.py',
                                                         'fcn32s.py')):
            return folder
    return None


def load_torchfcn_fcn8s(models_dir):
    """pytorch-fcn's ``FCN8s`` class, imported from its own files."""
    # Only FCN*.download uses ``fcn`` (to fetch weights): a stub suffices.
    sys.modules.setdefault('fcn', types.ModuleType('fcn'))
    package = types.ModuleType('_torchfcn_models')
    package.__path__ = [models_dir]  # fcn8s.py imports .fcn32s from here
    sys.modules['_torchfcn_models'] = package
    return importlib.import_module('_torchfcn_models.fcn8s').FCN8s


def build(name, args):
    """(model, train_step(x, y), infer(x)); train_step's SGD updates the
    parameters the model's own training optimises."""
    import torch
    import torch.nn.functional as F

    if name == REFERENCE:
        model = load_torchfcn_fcn8s(find_torchfcn_models(args.torchfcn_src))(
            n_class=NUM_CLASSES)
        # As pytorch-fcn's training scripts: convs are optimised, the
        # bilinear ConvTranspose2d weights are left out of the optimiser.
        params = [p for m in model.modules()
                  if isinstance(m, torch.nn.Conv2d) for p in m.parameters()]

        def loss(x, y):
            return F.cross_entropy(model(x), y)

        def infer(x):
            return model(x)
    else:
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmengine.structures import PixelData
        from mmseg.registry import MODELS as REGISTRY
        from mmseg.structures import SegDataSample

        import fcn_mm  # noqa: F401  (registers the models)
        init_default_scope('mmseg')
        cfg = Config.fromfile(osp.join(REPO, MODELS[name]))
        model = REGISTRY.build(cfg.model)
        params = [p for p in model.parameters() if p.requires_grad]

        def loss(x, y):
            h, w = x.shape[2:]
            sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                                 pad_shape=(h, w)))
            sample.gt_sem_seg = PixelData(data=y)
            losses = model.loss(x, [sample])
            return sum(v for k, v in losses.items() if 'loss' in k)

        def infer(x):
            h, w = x.shape[2:]
            return model.inference(x, [dict(img_shape=(h, w),
                                             ori_shape=(h, w))])

    # The same He-normal convs for every model (pytorch-fcn zeroes its own),
    # so that no model runs on all-zero activations.
    torch.manual_seed(0)
    for m in model.modules():
        if type(m) is torch.nn.Conv2d:
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            torch.nn.init.zeros_(m.bias)
    model.to(args.device)
    # pytorch-fcn's FCN8s optimiser settings; the values do not affect speed.
    optimizer = torch.optim.SGD(
        params, lr=1e-14, momentum=0.99, weight_decay=5e-4)

    def train_step(x, y):
        optimizer.zero_grad()
        loss(x, y).backward()
        optimizer.step()

    return model, train_step, infer


def worker(args):
    """Time one model; print its results as a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    model, train_step, infer = build(args.worker, args)
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(1, 3, args.size, args.size, generator=generator) *
         50).to(device)  # about the spread of mean-subtracted pixels
    y = torch.randint(0, NUM_CLASSES, (1, args.size, args.size),
                      generator=generator).to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def peak_mib():
        if cuda:
            return torch.cuda.max_memory_allocated(device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10

    def run(step):
        for _ in range(args.warmup):
            step()
        sync()
        times = []
        for _ in range(args.iters):
            start = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def measure(step):
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device) / 2**20
        else:  # the high-water mark only rises: infer first, then train
            base = baseline
        seconds = run(step)
        return seconds, peak_mib() - base

    sync()
    baseline = peak_mib()
    model.eval()
    with torch.no_grad():
        infer_s, infer_mib = measure(lambda: infer(x))
    model.train()
    train_s, train_mib = measure(lambda: train_step(x, y))
    print(RESULT_TAG + json.dumps(dict(
        train_s=train_s, infer_s=infer_s, train_mib=train_mib,
        infer_mib=infer_mib)))


def ratio(value, reference):
    return f'{value / reference:.2f}' if reference else 'n/a'


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    import torch

    torchfcn_models = find_torchfcn_models(args.torchfcn_src)
    results = {}
    for name in MODELS:
        if name == REFERENCE and torchfcn_models is None:
            print(f'skipping {name}: no pytorch-fcn source (pass '
                  '--torchfcn-src, an unpacked torchfcn sdist)',
                  file=sys.stderr)
            continue
        print(f'running {name} ...', file=sys.stderr, flush=True)
        command = [sys.executable, osp.abspath(__file__), '--worker', name,
                   '--device', args.device, '--iters', str(args.iters),
                   '--warmup', str(args.warmup), '--size', str(args.size),
                   '--threads', str(args.threads)]
        if torchfcn_models:
            command += ['--torchfcn-src', torchfcn_models]
        done = subprocess.run(command, capture_output=True, text=True,
                              cwd=REPO, env=dict(os.environ,
                                                 PYTHONWARNINGS='ignore'))
        lines = [line for line in done.stdout.splitlines()
                 if line.startswith(RESULT_TAG)]
        if done.returncode or not lines:
            print(f'{name} failed:\n{done.stderr[-3000:]}', file=sys.stderr)
            return 1
        results[name] = json.loads(lines[-1][len(RESULT_TAG):])

    reference = results.get(REFERENCE, {})
    memory = 'peak CUDA alloc' if args.device.startswith('cuda') else \
        'peak RSS rise'
    from benchmarks.machine import describe_machine
    print(f'\n{describe_machine(args.threads)}\nFCN-8s, batch 1, '
          f'{args.size}x{args.size}, {args.device}, median of {args.iters} '
          f'after {args.warmup} warm-up\n')
    print(f'| model | train step (s) | inference (s) | {memory} train (MiB) '
          f'| {memory} inference (MiB) | train / pytorch-fcn '
          '| inference / pytorch-fcn | memory train / pytorch-fcn |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for name, r in results.items():
        print(f"| {name} | {r['train_s']:.3f} | {r['infer_s']:.3f} "
              f"| {r['train_mib']:.0f} | {r['infer_mib']:.0f} "
              f"| {ratio(r['train_s'], reference.get('train_s'))} "
              f"| {ratio(r['infer_s'], reference.get('infer_s'))} "
              f"| {ratio(r['train_mib'], reference.get('train_mib'))} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
