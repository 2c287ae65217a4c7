"""Starting tools/train.py in a process that a test can kill, and comparing
the training state two runs ended with."""
import os
import subprocess
import sys
from pathlib import Path

import torch
from tool_runs import REPO

from fcn_mm.engine.checkpoint import load_from_local_weights_only

DETERMINISTIC_CONFIG = (REPO / 'tests' / 'test_distributed' / 'configs' /
                        'fcn8s_demo_deterministic.py')


def start_train(*args, cwd, log: Path) -> subprocess.Popen:
    """tools/train.py in its own process and process group (as a Slurm job
    step's processes, which ``os.killpg`` signals together), output to
    ``log``."""
    with open(log, 'ab') as out:
        return subprocess.Popen(
            [sys.executable,
             str(REPO / 'tools' / 'train.py'), *map(str, args)],
            cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED='1'),
            start_new_session=True)


def flat(tree, prefix=''):
    """Nested dicts/lists as {'a.b.0': leaf}."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    leaves = {}
    for key, value in items:
        if isinstance(value, (dict, list)):
            leaves.update(flat(value, f'{prefix}{key}.'))
        else:
            leaves[f'{prefix}{key}'] = value
    return leaves


def unequal_state(expected: Path, got: Path) -> list:
    """The weights and optimizer entries of two checkpoints that are not
    bit-equal (torch.equal), or whose keys differ."""
    expected = load_from_local_weights_only(str(expected))
    got = load_from_local_weights_only(str(got))
    unequal = []
    for part in ('state_dict', 'optimizer'):
        want, have = flat(expected[part]), flat(got[part])
        if want.keys() != have.keys():
            unequal.append(f'{part}: keys {sorted(want.keys() ^ have.keys())}')
            continue
        unequal += [f'{part}.{key}' for key, value in want.items()
                    if torch.is_tensor(value)
                    and not torch.equal(value, have[key])]
    return unequal
