"""How the tools end on an expected error: one line, no traceback
(fcn_mm.apis.cli.one_line_errors), and what they refuse at their start."""
import errno
import logging
import os
import subprocess
import sys

import pytest
from mmengine.logging import MMLogger
from mmseg.registry import MODELS

from fcn_mm.apis.cli import expected_error_message, one_line_errors
from fcn_mm.apis.run_config import OUT_LOCK, OutputDirError, claim_output_dir
from fcn_mm.engine import CorruptCheckpointError
from fcn_mm.errors import FcnMmError


def _ends_with(error):
    @one_line_errors
    def main():
        raise error

    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code


@pytest.fixture
def console_only_logger():
    """A current MMLogger without a log file, as in a tool before its runner
    opens one (an earlier test's runner may have left its own current)."""
    name = 'fcn_mm_test_console_only'
    MMLogger.get_instance(name)
    yield
    MMLogger._instance_dict.pop(name)


@pytest.mark.usefixtures('console_only_logger')
@pytest.mark.parametrize('code, text', [
    (errno.ENOSPC, 'No space left on device'),
    (errno.EROFS, 'Read-only file system'),
    (errno.EACCES, 'Permission denied'),
    (errno.ENAMETOOLONG, 'File name too long'),
])
def test_a_refused_write_is_one_line_naming_the_path(code, text):
    error = OSError(code, os.strerror(code), '/runs/w/iter_2.pth')
    assert _ends_with(error) == \
        f"error: [Errno {code}] {text}: '/runs/w/iter_2.pth'"


def test_fcn_mm_errors_and_registry_mistakes_are_one_line(mmseg_scope):
    reason = 'truncated: the file ends before its zip directory; rerun'
    message = _ends_with(CorruptCheckpointError('/w/iter_2.pth', reason))
    assert message.startswith('error: ') and '/w/iter_2.pth' in message
    assert '\n' not in message

    @one_line_errors
    def build():
        MODELS.build(dict(type='FCN9sHead'))

    with pytest.raises(SystemExit) as info:
        build()
    assert info.value.code.startswith(
        'error: config: FCN9sHead is not in the mmseg::model registry')


@pytest.mark.parametrize('error', [
    KeyError('a bug'), ValueError('a bug'), OSError(errno.EIO, 'I/O'),
    RuntimeError('a bug')])
def test_other_errors_keep_their_traceback(error):
    assert expected_error_message(error) is None

    @one_line_errors
    def main():
        raise error

    with pytest.raises(type(error)):
        main()


def test_the_traceback_goes_to_the_runs_log(tmp_path):
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance('fcn_mm_test_tool_errors',
                                   log_file=str(log_file))
    try:
        message = _ends_with(FcnMmError('what to do'))
    finally:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.close()
        MMLogger._instance_dict.pop('fcn_mm_test_tool_errors')
    assert message == f'error: what to do (traceback in {log_file})'
    text = log_file.read_text()
    assert 'Traceback (most recent call last)' in text
    assert 'FcnMmError: what to do' in text


def test_a_config_typo_ends_train_py_at_its_start(tmp_path, run_tool,
                                                 demo_config, demo_options):
    result = run_tool('train', demo_config, '--work-dir', tmp_path / 'w',
                      '--cfg-options', *demo_options,
                      'default_hooks.checkpoint.intervall=2', cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stdout
    assert ("default_hooks.checkpoint.intervall: AtomicCheckpointHook has no "
            "argument 'intervall'; did you mean default_hooks.checkpoint."
            "interval?") in result.stdout
    assert not (tmp_path / 'w').exists()  # before anything was built


def test_test_py_refuses_an_out_with_another_runs_files(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_options):
    out = tmp_path / 'out'
    out.mkdir()
    earlier = out / '2007_000033.png'
    earlier.write_bytes(b'an earlier run')
    result = run_tool('test', demo_config, trained_work_dir / 'iter_2.pth',
                      '--work-dir', tmp_path / 'w', '--out', out,
                      '--cfg-options', *demo_options, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        f'error: --out {out} already holds 1 files (e.g. 2007_000033.png), '
        'from an earlier run; give an empty or new folder, or pass '
        '--overwrite to replace files of the same names')
    assert earlier.read_bytes() == b'an earlier run'


def test_claim_output_dir(tmp_path):
    claim_output_dir(str(tmp_path / 'new'))  # created, then held
    assert os.listdir(tmp_path / 'new') == [OUT_LOCK]
    full = tmp_path / 'full'
    full.mkdir()
    (full / 'a.png').write_bytes(b'x')
    with pytest.raises(OutputDirError, match='holds 1 files'):
        claim_output_dir(str(full))
    claim_output_dir(str(full), overwrite=True)


def test_a_second_run_into_the_same_out_is_refused(tmp_path):
    out = tmp_path / 'out'
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time\n'
         'from fcn_mm.apis.run_config import claim_output_dir\n'
         f'claim_output_dir({str(out)!r})\n'
         'print("held", flush=True)\n'
         'sys.stdin.read()\n'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'held\n'
        with pytest.raises(OutputDirError) as info:
            claim_output_dir(str(out), overwrite=True)
        assert str(info.value) == (
            f'--out {out} is in use by another run (PID {holder.pid}, see '
            f'{out / OUT_LOCK}); wait for it, or give another --out')
    finally:
        holder.stdin.close()
        holder.wait()
    claim_output_dir(str(out))  # free again once that run ended


def test_every_error_raised_on_purpose_has_the_root_and_its_old_base():
    import pickle

    from fcn_mm.apis.pretrained import DownloadError
    from fcn_mm.converters.common import ConversionError
    from fcn_mm.datasets.checked import DataFileError
    from fcn_mm.datasets.sbd import DatasetConversionError
    from fcn_mm.engine.checkpoint import UntrustedCheckpointError
    from fcn_mm.engine.distributed import StalledRankError
    from fcn_mm.engine.hooks.non_finite_hook import NonFiniteLossError
    from fcn_mm.engine.runner import WorkDirBusyError
    from fcn_mm.errors import ConfigArgumentError, MissingConfigKeyError
    old_bases = {
        ConversionError: ValueError, DataFileError: ValueError,
        DatasetConversionError: ValueError, DownloadError: RuntimeError,
        CorruptCheckpointError: ValueError, StalledRankError: RuntimeError,
        UntrustedCheckpointError: pickle.UnpicklingError,
        NonFiniteLossError: RuntimeError, WorkDirBusyError: RuntimeError,
        ConfigArgumentError: ValueError, MissingConfigKeyError: KeyError,
        OutputDirError: FileExistsError}
    for cls, base in old_bases.items():
        assert issubclass(cls, FcnMmError) and issubclass(cls, base), cls
    assert str(MissingConfigKeyError('no quotes')) == 'no quotes'
