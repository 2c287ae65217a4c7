"""Looking at a model and a run: complexity, speed, confusion matrix, curves.

These replace mmseg 1.2's ``tools/analysis_tools`` where they fail on this
stack (``get_flops.py`` passes both ``input_shape`` and ``inputs`` to
mmengine, ``benchmark.py`` cannot load checkpoints on torch >= 2.6,
``confusion_matrix.py`` overflows ``uint8``, ``analyze_logs.py`` needs
seaborn). Plots are PNGs drawn with matplotlib's Agg backend.
"""
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..fileio import atomic_write

__all__ = [
    'complexity', 'measure_speed', 'plot_confusion_matrix', 'plot_curves',
    'read_scalars'
]


def complexity(model: nn.Module, shape: Tuple[int, int]) -> Dict:
    """FLOPs, activations and parameters of a segmentor's forward pass.

    Args:
        model (nn.Module): An mmseg segmentor, e.g. from ``init_model``.
        shape (tuple[int, int]): Input (H, W); one 3-channel image.

    Returns:
        dict: ``flops`` (one multiply-add counts as one, as fvcore and
        mmengine count), ``activations``, ``params``, and ``table``, the
        per-module breakdown as text.
    """
    from mmengine.analysis import get_model_complexity_info

    device = next(model.parameters()).device
    inputs = torch.zeros(1, 3, *shape, device=device)
    model.eval()
    with torch.no_grad():
        # mode='tensor': the logits, without post-processing.
        info = get_model_complexity_info(
            _TensorMode(model), inputs=(inputs, ), show_arch=False)
    return dict(flops=info['flops'], activations=info['activations'],
                params=info['params'], table=info['out_table'])


class _TensorMode(nn.Module):
    """``model(x)`` as ``model(x, mode='tensor')`` for the flop counter."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, mode='tensor')


def measure_speed(model: nn.Module, shape: Tuple[int, int], *,
                  batch_size: int = 1, warmup: int = 5,
                  iters: int = 20) -> Dict[str, float]:
    """Latency, throughput and peak memory of inference on random images.

    The model runs in eval mode under ``torch.no_grad`` on its own device;
    on CUDA each timing waits for the GPU (``torch.cuda.synchronize``).

    Args:
        model (nn.Module): An mmseg segmentor.
        shape (tuple[int, int]): Input (H, W).
        batch_size (int): Images per forward pass. Defaults to 1.
        warmup (int): Untimed passes first. Defaults to 5.
        iters (int): Timed passes. Defaults to 20.

    Returns:
        dict: ``latency_ms`` (median per pass), ``latency_ms_p90``,
        ``images_per_s`` (batch_size / median), ``peak_memory_mib`` (CUDA:
        the most allocated by torch during the timed passes; CPU: the
        process's peak resident set, which includes everything loaded) and
        ``device``.
    """
    device = next(model.parameters()).device
    cuda = device.type == 'cuda'
    inputs = torch.randn(batch_size, 3, *shape, device=device)
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            if i == warmup and cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            model(inputs, mode='tensor')
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    median = statistics.median(times)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # Linux reports ru_maxrss in KiB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(latency_ms=1e3 * median,
                latency_ms_p90=1e3 * float(np.percentile(times, 90)),
                images_per_s=batch_size / median, peak_memory_mib=peak,
                device=str(device))


def _save_figure(figure, path: str) -> None:
    atomic_write(path, lambda f: figure.savefig(f, format='png', dpi=120))


def plot_confusion_matrix(report: Dict, path: str, *,
                          normalize: bool = True,
                          title: Optional[str] = None) -> np.ndarray:
    """Draw the confusion matrix of a ``per_class.json`` report as a PNG.

    Args:
        report (dict): :func:`fcn_mm.apis.evaluation.class_report`'s output.
        path (str): The PNG to write.
        normalize (bool): Show each row (label) as percentages of its pixels
            instead of counts. Defaults to True.
        title (str, optional): Figure title. Defaults to None.

    Returns:
        np.ndarray: The matrix drawn (rows: label, columns: prediction).
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    counts = np.asarray(report['confusion_matrix'], dtype=np.int64)
    shown = counts.astype(np.float64)
    if normalize:
        rows = counts.sum(1, keepdims=True)
        shown = np.divide(100 * shown, rows, out=np.zeros_like(shown),
                          where=rows > 0)
    classes = report['classes']
    size = max(6., 0.45 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(shown, cmap='viridis')
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04,
                    label='% of the label\'s pixels' if normalize else
                    'pixels')
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=90)
    axes.set_yticks(ticks, classes)
    axes.set_xlabel('prediction')
    axes.set_ylabel('label')
    if len(classes) <= 30:
        for (row, col), value in np.ndenumerate(shown):
            if value:
                axes.text(col, row, f'{value:.0f}', ha='center',
                          va='center', fontsize=6, color='w')
    axes.set_title(title or 'confusion matrix')
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)
    return shown


def read_scalars(work_dir: str) -> List[dict]:
    """Every record of ``*/vis_data/scalars.json`` under a work dir, runs in
    time order (a resumed run appends a new timestamped folder)."""
    paths = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not paths:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}; give the '
            '--work-dir of a tools/train.py run')
    return [json.loads(line) for path in paths
            for line in path.read_text().splitlines() if line.strip()]


def plot_curves(work_dir: str, path: str, *,
                keys: Sequence[str] = ('loss', 'mIoU')) -> Dict[str, list]:
    """Plot training and validation scalars of a run against iterations.

    Training records carry ``iter``; validation records carry ``step`` (the
    iteration validated at). One panel per key.

    Args:
        work_dir (str): The run's work dir.
        path (str): The PNG to write.
        keys (Sequence[str]): Scalars to plot. Defaults to loss and mIoU.

    Returns:
        dict: ``{key: [(iteration, value), ...]}`` as plotted.

    Raises:
        KeyError: A key is in no record; the message lists those present.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    records = read_scalars(work_dir)
    series = {key: [(r.get('iter', r.get('step')), r[key])
                    for r in records if key in r] for key in keys}
    missing = [key for key, points in series.items() if not points]
    if missing:
        present = sorted({k for r in records for k in r})
        raise KeyError(f'{missing} not logged in {work_dir}; logged: '
                       f'{present}')
    figure, axes = plt.subplots(len(keys), 1, figsize=(7, 3 * len(keys)),
                                squeeze=False)
    for axis, (key, points) in zip(axes[:, 0], series.items()):
        x, y = zip(*points)
        axis.plot(x, y, marker='o' if len(points) < 30 else None)
        axis.set_xlabel('iteration')
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)
    return series
