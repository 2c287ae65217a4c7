"""What tools and Python users call: the command line and the run config,
inference and overlays, dataset browsing, test reports, init weights, analysis,
ONNX export and the CPU fast path (one module each).

Not imported by ``import fcn_mm``; import it where it is used.
"""
from .cli import add_runner_arguments, existing_file, run_config_from_args
from .run_config import (drop_training, enable_amp, enable_test_outputs,
                         enable_tta, load_run_config)

__all__ = [
    'add_runner_arguments', 'drop_training', 'enable_amp',
    'enable_test_outputs', 'enable_tta', 'existing_file', 'load_run_config',
    'run_config_from_args'
]
