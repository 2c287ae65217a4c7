"""Small helpers the tools and tests share, one concern per module."""
from .checkpoint import (MMENGINE_CHECKPOINT_GLOBALS, UntrustedCheckpointError,
                         allow_mmengine_checkpoints,
                         load_from_local_weights_only)
from .distributed import (CPUDistributedDataParallel, CPUSyncBatchNorm,
                          init_cpu_process_group, setup_distributed)
from .launch_check import launcher_problem, layout_problem, master_problem
from .run_config import (add_runner_arguments, build_runner, drop_training,
                         enable_amp, enable_test_outputs, enable_tta,
                         existing_file, load_run_config)

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'UntrustedCheckpointError',
    'allow_mmengine_checkpoints', 'load_from_local_weights_only',
    'add_runner_arguments', 'build_runner', 'drop_training', 'enable_amp',
    'enable_test_outputs', 'enable_tta', 'existing_file', 'load_run_config',
    'CPUDistributedDataParallel', 'CPUSyncBatchNorm', 'init_cpu_process_group',
    'setup_distributed', 'launcher_problem', 'layout_problem', 'master_problem'
]
