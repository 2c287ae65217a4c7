"""Running the tools as a user would, and reading what they logged.

Plain functions shared by the tool, distributed and demo tests (``tests/`` is
on ``sys.path`` as the folder of the top conftest).
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
# Real photographs with human labels, kept in the repository (see its README).
REAL_SAMPLES = REPO / 'tests' / 'data' / 'real_samples'
REAL_VOC = REAL_SAMPLES / 'VOCdevkit' / 'VOC2012'
REAL_ADE = REAL_SAMPLES / 'ADEChallengeData2016'
DEMO_CONFIG = (REPO / 'configs' / 'demo' /
               'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py')


def load_tool(path: str) -> ModuleType:
    """Import the tool at ``path`` (relative to the repository) as a module;
    its ``if __name__ == '__main__'`` block does not run."""
    path = REPO / path
    spec = importlib.util.spec_from_file_location(
        f'tool_{path.parent.name}_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(tool: str, *args, cwd: Path,
              expect_success: bool = True) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>.py`` in a fresh interpreter, stdout and stderr
    merged into ``.stdout``; fail with its last lines if it should succeed
    and did not."""
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600)
    if expect_success:
        assert result.returncode == 0, result.stdout[-5000:]
    return result


def logged_scalars(work_dir):
    """Per-iteration training scalars of every run in ``work_dir``, in order:
    {iteration: {'loss': ..., 'lr': ..., ...}}."""
    scalars = {}
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'iter' in record:  # validation lines have only 'step'
                scalars[record['iter']] = record
    return scalars
