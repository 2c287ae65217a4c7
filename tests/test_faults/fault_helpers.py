"""Starting tools/train.py in a process that a test can kill."""
import os
import subprocess
import sys
from pathlib import Path

from tool_runs import REPO

DETERMINISTIC_CONFIG = (REPO / 'tests' / 'test_distributed' / 'configs' /
                        'fcn8s_demo_deterministic.py')


def start_train(*args, cwd, log: Path) -> subprocess.Popen:
    """tools/train.py in its own process, output to ``log``."""
    with open(log, 'ab') as out:
        return subprocess.Popen(
            [sys.executable,
             str(REPO / 'tools' / 'train.py'), *map(str, args)],
            cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
