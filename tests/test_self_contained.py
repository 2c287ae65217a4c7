"""The suite needs nothing beside the repository: the real samples live in
tests/data/, and reading a sibling of the clone fails the test that does it."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import self_contained
from PIL import Image
from self_contained import OutsideRepositoryError, outside_path
from tool_runs import REAL_ADE, REAL_VOC, REPO

# A sibling name no checkout has: the hook must refuse it before the file
# system is asked, so the error is ours, not FileNotFoundError.
SIBLING = REPO.parent / 'fcn_mm_test_sibling_that_does_not_exist'


def test_real_samples_are_complete_in_the_repository():
    ids = (REAL_VOC / 'ImageSets/Segmentation/val.txt').read_text().split()
    assert len(ids) == 15
    for image_id in ids:
        image = Image.open(REAL_VOC / 'JPEGImages' / f'{image_id}.jpg')
        label = Image.open(REAL_VOC / 'SegmentationClass' / f'{image_id}.png')
        assert label.mode == 'P' and image.size == label.size, image_id
    ade = sorted((REAL_ADE / 'images/validation').glob('*.jpg'))
    assert len(ade) == 3
    for path in ade:
        label = REAL_ADE / 'annotations/validation' / f'{path.stem}.png'
        assert Image.open(label).size == Image.open(path).size
    assert (REAL_ADE / 'objectInfo150.csv').read_text().count('\n') >= 150


@pytest.mark.skipif(outside_path(SIBLING) is None,
                    reason='the clone sits in / or in the temporary folder: '
                    'nothing beside it can be told from temporary files')
def test_opening_a_sibling_of_the_clone_fails_the_test():
    with pytest.raises(OutsideRepositoryError, match='beside the repository'):
        open(SIBLING / 'x.png', 'rb')
    with pytest.raises(OutsideRepositoryError):
        os.listdir(SIBLING)
    with pytest.raises(OutsideRepositoryError, match='tests/data/'):
        subprocess.run([sys.executable, '-c', 'pass',
                        f'data_root={SIBLING}/VOC2012'])


def test_outside_path_tells_siblings_from_allowed_places(tmp_path):
    parent = Path('/clones')
    allowed = (Path('/clones/venv'), )
    assert outside_path('/clones/shared/a.png', parent, allowed) == \
        Path('/clones/shared/a.png')
    assert outside_path('/clones/fcn_mm/../shared', parent, allowed) == \
        Path('/clones/shared')
    assert outside_path('/clones/.cache/x', parent, allowed) is None
    assert outside_path('/clones/venv/lib/x.py', parent, allowed) is None
    assert outside_path('/elsewhere/x', parent, allowed) is None
    # A temporary folder above the clone's allows nothing beside the clone;
    # one that is the clone's folder allows everything there.
    assert outside_path('/tmp/ci/shared', Path('/tmp/ci'), (Path('/tmp'), ))
    assert outside_path('/tmp/shared', Path('/tmp'), (Path('/tmp'), )) is None
    assert outside_path(3, parent, allowed) is None  # a file descriptor
    assert outside_path(REPO / 'tests', REPO.parent) is None
    assert outside_path(tmp_path / 'x', REPO.parent) is None


def test_the_hook_can_be_paused_for_this_test_only(monkeypatch):
    monkeypatch.setattr(self_contained, 'ACTIVE', False)
    with pytest.raises(FileNotFoundError):
        open(SIBLING / 'x.png', 'rb')


def _escaping_parents(path: Path) -> list:
    """``Path(__file__)....parents[k]`` subscripts that leave the
    repository, as (line, k)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == 'parents'
                and isinstance(node.slice, ast.Constant)):
            k = node.slice.value
            if not path.resolve().parents[k].is_relative_to(REPO):
                found.append((node.lineno, k))
    return found


def test_no_test_or_benchmark_builds_a_path_outside_the_repository():
    sources = sorted([*REPO.glob('tests/**/*.py'),
                      *REPO.glob('benchmarks/*.py')])
    assert len(sources) > 50
    offenders = []
    for path in sources:
        text = path.read_text()
        offenders += [f'{path.relative_to(REPO)}:{line}: parents[{k}]'
                      for line, k in _escaping_parents(path)]
        for number, line in enumerate(text.splitlines(), 1):
            if ('shared/data' in line or "'shared'" in line) and \
                    path.name != 'test_self_contained.py':
                offenders.append(f'{path.relative_to(REPO)}:{number}: {line}')
    assert not offenders, 'paths outside the repository:\n' + \
        '\n'.join(offenders)
