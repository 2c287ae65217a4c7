"""What tools and Python users call: turning a command line into a run config.

Not imported by ``import fcn_mm``; import it where it is used.
"""
from .run_config import (add_runner_arguments, drop_training, enable_amp,
                         enable_test_outputs, enable_tta, existing_file,
                         load_run_config)

__all__ = [
    'add_runner_arguments', 'drop_training', 'enable_amp',
    'enable_test_outputs', 'enable_tta', 'existing_file', 'load_run_config'
]
