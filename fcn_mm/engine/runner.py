"""Building the runner for a config, on GPUs or on CPU processes."""
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from .distributed import setup_distributed

__all__ = ['build_runner']


def build_runner(cfg: Config) -> Runner:
    """Build mmengine's ``Runner``, or the runner named by ``cfg.runner_type``.

    A distributed run on a machine without CUDA gets gloo and CPU DDP first,
    see :func:`fcn_mm.engine.distributed.setup_distributed`.

    Args:
        cfg (Config): The run's config.

    Returns:
        Runner: The runner.
    """
    setup_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
