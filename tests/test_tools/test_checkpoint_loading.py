"""fcn_mm.engine.checkpoint: mmengine checkpoints load weights-only on torch
2.6+, anything else in a checkpoint is refused with a useful error, and
empty, truncated, altered or non-checkpoint files are named as such."""
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from fcn_mm.engine import (MMENGINE_CHECKPOINT_GLOBALS, CorruptCheckpointError,
                           UntrustedCheckpointError,
                           allow_mmengine_checkpoints,
                           load_from_local_weights_only)
from fcn_mm.engine.checkpoint import write_checksum


class _Foreign:
    """Stands for any object a checkpoint should not carry."""


class _HistoryBufferAttribute:
    """Pickles as ``getattr(HistoryBuffer, name)``, the form protocol 2 gives
    HistoryBuffer's statistics methods, with a name of our choosing."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return getattr, (HistoryBuffer, self.name)


def _save(obj, path):
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': obj}, path)
    return str(path)


def test_runner_checkpoint_loads_with_weights_only_on(trained_work_dir):
    allow_mmengine_checkpoints()
    path = str(trained_work_dir / 'iter_2.pth')
    checkpoint = torch.load(path, weights_only=True)
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.data[0].dtype == np.float64
    assert len(buffer.data[0]) == 2  # one loss per iteration
    assert buffer.mean() == pytest.approx(buffer.data[0].mean())
    # mmengine's own path (runner.resume, load_from, init_cfg) loads too.
    loaded = CheckpointLoader.load_checkpoint(path)
    assert loaded['meta']['iter'] == 2
    assert loaded['state_dict'].keys() == checkpoint['state_dict'].keys()


def test_torch_load_default_stays_weights_only(tmp_path):
    allow_mmengine_checkpoints()
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0') in ('', '0')
    path = _save({'note': _Foreign()}, tmp_path / 'foreign.pth')
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(path)  # torch's default, as mmengine calls it


@pytest.mark.parametrize(
    'load', [load_from_local_weights_only, CheckpointLoader.load_checkpoint],
    ids=['direct', 'through_mmengine'])
def test_foreign_object_is_refused_naming_file_and_global(tmp_path, load):
    allow_mmengine_checkpoints()
    path = _save({'note': _Foreign()}, tmp_path / 'foreign.pth')
    with pytest.raises(UntrustedCheckpointError) as error:
        load(path)
    name = f'{_Foreign.__module__}._Foreign'
    assert error.value.filename == path
    assert error.value.global_name == name
    message = str(error.value)
    assert f'checkpoint {path}' in message
    assert f'object {name}' in message
    assert 'Only load checkpoints you trust' in message
    assert 'tools/model_converters/' in message
    # Still an UnpicklingError, so code that catches torch's error works.
    assert isinstance(error.value, pickle.UnpicklingError)


@pytest.mark.parametrize('attribute', ['update', '__init__', '__class__'])
def test_getattr_reaches_only_history_buffer_statistics(tmp_path, attribute):
    allow_mmengine_checkpoints()
    path = _save(_HistoryBufferAttribute(attribute), tmp_path / 'attr.pth')
    with pytest.raises(UntrustedCheckpointError) as error:
        load_from_local_weights_only(path)
    assert error.value.global_name == (
        f'mmengine.logging.history_buffer.HistoryBuffer.{attribute}')


def test_history_buffer_statistics_methods_resolve(tmp_path):
    allow_mmengine_checkpoints()
    path = _save(_HistoryBufferAttribute('mean'), tmp_path / 'mean.pth')
    assert load_from_local_weights_only(path)['meta'] is HistoryBuffer.mean


def test_unlisted_numpy_dtype_is_refused_by_name(tmp_path):
    allow_mmengine_checkpoints()
    path = _save({'when': np.datetime64('2024-01-01')}, tmp_path / 'dt.pth')
    with pytest.raises(UntrustedCheckpointError) as error:
        load_from_local_weights_only(path)
    assert error.value.global_name == 'numpy.dtypes.DateTime64DType'


def test_numpy1_module_paths_load(tmp_path, trained_work_dir):
    # numpy 1.x wrote numpy.core.multiarray where numpy 2 writes
    # numpy._core.multiarray; pickle's GLOBAL opcode holds the module path as
    # a text line, so renaming it gives the checkpoint numpy 1.x would write.
    allow_mmengine_checkpoints()
    old = tmp_path / 'numpy1.pth'
    with zipfile.ZipFile(trained_work_dir / 'iter_2.pth') as source, \
            zipfile.ZipFile(old, 'w', zipfile.ZIP_STORED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename.endswith('data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
            target.writestr(entry, data)
    checkpoint = load_from_local_weights_only(str(old))
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer.data[0], np.ndarray)
    assert len(buffer.data[0]) == 2


def test_allow_is_idempotent_and_keeps_url_loaders():
    allow_mmengine_checkpoints()
    first = set(torch.serialization.get_safe_globals())
    allow_mmengine_checkpoints()
    assert set(torch.serialization.get_safe_globals()) == first
    assert set(MMENGINE_CHECKPOINT_GLOBALS) <= first
    assert CheckpointLoader._get_checkpoint_loader(
        'work_dirs/iter_4.pth') is load_from_local_weights_only
    assert CheckpointLoader._get_checkpoint_loader(
        'https://example.org/x.pth').__name__ == 'load_from_http'


def test_loads_after_a_safe_globals_context_removed_the_allow_list(
        trained_work_dir):
    # torch's safe_globals() removes its globals on exit, even those that
    # were allowed before it; fcn_mm's loader must not depend on that state.
    allow_mmengine_checkpoints()
    with torch.serialization.safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS)):
        pass
    assert not set(MMENGINE_CHECKPOINT_GLOBALS) & set(
        torch.serialization.get_safe_globals())
    checkpoint = load_from_local_weights_only(
        str(trained_work_dir / 'iter_2.pth'))
    assert checkpoint['meta']['iter'] == 2


def test_missing_checkpoint_names_the_path(tmp_path):
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_from_local_weights_only(missing)



def test_blocked_module_is_named_with_torch_2_13_wording(tmp_path):
    # torch 2.13 says "unsupported GLOBAL posix.system whose module posix is
    # blocked" for functions of modules it never allows.
    allow_mmengine_checkpoints()
    path = _save({'run': os.system}, tmp_path / 'system.pth')
    with pytest.raises(UntrustedCheckpointError) as error:
        load_from_local_weights_only(path)
    assert error.value.global_name == f'{os.name}.system'
    assert f'object {os.name}.system' in str(error.value)


def _broken(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError) as error:
        load_from_local_weights_only(str(path))
    assert error.value.filename == str(path)
    assert str(error.value).startswith(f'Cannot load checkpoint {path}: ')
    assert 'older checkpoint' in str(error.value)
    return str(error.value)


def test_zero_byte_file_is_called_empty(tmp_path):
    assert 'the file is empty (0 bytes)' in _broken(tmp_path, 'e.pth', b'')


def test_text_file_is_not_a_checkpoint(tmp_path):
    message = _broken(tmp_path, 'page.pth', b'<html>Not Found</html>\n')
    assert "it is not a checkpoint: it starts with b'<htm'" in message


def test_truncated_checkpoint_is_called_truncated(tmp_path, trained_work_dir):
    data = (trained_work_dir / 'iter_2.pth').read_bytes()
    message = _broken(tmp_path, 'cut.pth', data[:len(data) // 2])
    assert 'it is truncated or corrupt: its zip directory cannot be read' \
        in message


def test_checkpoints_carry_a_sha256sum_sidecar(trained_work_dir):
    import hashlib
    path = trained_work_dir / 'iter_2.pth'
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar = trained_work_dir / 'iter_2.pth.sha256'
    assert sidecar.read_text() == f'{digest}  iter_2.pth\n'
    assert (trained_work_dir / 'last_checkpoint').read_text() == 'iter_2.pth'


def test_flipped_bytes_are_caught_by_the_checksum(tmp_path, trained_work_dir):
    allow_mmengine_checkpoints()
    data = bytearray((trained_work_dir / 'iter_2.pth').read_bytes())
    (tmp_path / 'iter_2.pth.sha256').write_bytes(
        (trained_work_dir / 'iter_2.pth.sha256').read_bytes())
    # Flip one byte in the middle: inside a weight tensor, which unpickles
    # silently to a wrong value without the checksum.
    data[len(data) // 2] ^= 0xFF
    message = _broken(tmp_path, 'iter_2.pth', bytes(data))
    assert 'not the ' in message and 'recorded in' in message
    assert 'truncated or altered since' in message
    # Through mmengine's loader too (runner.resume, load_from, init_model).
    with pytest.raises(CorruptCheckpointError):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'iter_2.pth'))


# Distinct float32 values, so that their bytes occur once in the file.
_WEIGHT = torch.arange(1024, dtype=torch.float32) + 0.5


def _flip_weight_bytes(path):
    """Flip 16 bytes inside the data of ``_WEIGHT`` in the file ``path``."""
    data = bytearray(path.read_bytes())
    start = data.find(_WEIGHT.numpy().tobytes())
    assert start > 0
    for i in range(start + 1000, start + 1016):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_tensor_bytes_without_sidecar_fail_the_zip_crc(tmp_path):
    allow_mmengine_checkpoints()
    path = tmp_path / 'converted.pth'
    torch.save({'state_dict': {'fc6.weight': _WEIGHT}}, path)
    _flip_weight_bytes(path)
    # What torch alone gives: the altered weights, silently.
    altered = torch.load(path, weights_only=True)['state_dict']['fc6.weight']
    assert not torch.equal(altered, _WEIGHT)
    message = _broken(tmp_path, 'converted.pth', path.read_bytes())
    assert 'its record converted/data/0 fails its CRC-32 check' in message
    for load in (CheckpointLoader.load_checkpoint,
                 load_from_local_weights_only):
        with pytest.raises(CorruptCheckpointError, match='converted.pth'):
            load(str(path))


def test_flipped_tensor_bytes_with_sidecar_fail_the_sha256(tmp_path):
    allow_mmengine_checkpoints()
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': {'fc6.weight': _WEIGHT}}, path)
    write_checksum(str(path))
    assert load_from_local_weights_only(str(path))['state_dict'][
        'fc6.weight'].equal(_WEIGHT)
    _flip_weight_bytes(path)
    message = _broken(tmp_path, 'w.pth', path.read_bytes())
    assert f'recorded in {path}.sha256' in message


def _warnings_while(load, tmp_path, name='load'):
    """The warnings fcn_mm's loader logs during ``load()``."""
    log_file = tmp_path / f'{name}.log'
    MMLogger.get_instance(f'{name}_{tmp_path.name}', log_file=str(log_file))
    result = load()
    return result, [line for line in log_file.read_text().splitlines()
                    if ' - WARNING - ' in line]


def test_legacy_file_loads_with_a_warning_that_it_is_unverified(tmp_path):
    allow_mmengine_checkpoints()
    path = tmp_path / 'legacy.pth'
    torch.save({'state_dict': {'fc6.weight': _WEIGHT}}, path,
               _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b'\x80'
    checkpoint, warnings = _warnings_while(
        lambda: load_from_local_weights_only(str(path)), tmp_path)
    assert checkpoint['state_dict']['fc6.weight'].equal(_WEIGHT)
    [warning] = warnings
    assert (f'Loading checkpoint {path} unverified: it is a legacy (non-zip) '
            'torch file without a .sha256 sidecar') in warning
    # With a sidecar, a legacy file is verified like any other.
    write_checksum(str(path))
    _, warnings = _warnings_while(
        lambda: load_from_local_weights_only(str(path)), tmp_path, 'again')
    assert warnings == []
    _flip_weight_bytes(path)
    with pytest.raises(CorruptCheckpointError, match='sha256'):
        load_from_local_weights_only(str(path))


def test_zip_saved_without_crcs_loads_with_a_warning(tmp_path):
    allow_mmengine_checkpoints()
    path = tmp_path / 'nocrc.pth'
    with _no_crc32():
        torch.save({'state_dict': {'fc6.weight': _WEIGHT}}, path)
    with zipfile.ZipFile(path) as archive:
        assert {info.CRC for info in archive.infolist()} == {0}
    checkpoint, [warning] = _warnings_while(
        lambda: load_from_local_weights_only(str(path)), tmp_path)
    assert checkpoint['state_dict']['fc6.weight'].equal(_WEIGHT)
    assert 'saved without CRC-32s' in warning


class _no_crc32:
    """torch.save without CRC-32s in its zip records, inside the ``with``."""

    def __enter__(self):
        self.before = torch.serialization.get_crc32_options()
        torch.serialization.set_crc32_options(False)

    def __exit__(self, *exc):
        torch.serialization.set_crc32_options(self.before)


def _five_class_checkpoint(trained_work_dir, path):
    """The trained 21-class checkpoint cut to 5 classes, as a model trained
    for 5 classes writes it; returns the message line of its classifier."""
    checkpoint = load_from_local_weights_only(
        str(trained_work_dir / 'iter_2.pth'))
    state_dict = checkpoint['state_dict']
    for key, value in state_dict.items():
        state_dict[key] = value[tuple(
            slice(0, 5) if size == 21 else slice(None)
            for size in value.shape)].clone()
    torch.save(checkpoint, path)
    shape = tuple(state_dict['decode_head.score_fr.weight'].shape)
    return (f'decode_head.score_fr.weight: checkpoint {shape}, model '
            f'{(21, ) + shape[1:]}')


def _refused(output, path, fix_line):
    """``output`` ends with the one line that refuses ``path``."""
    assert f'Checkpoint {path} does not fit the model of the config' in output
    assert fix_line in output
    assert f'--cfg-options load_from={path}' in output
    assert 'Traceback' not in output


@pytest.mark.slow
def test_test_and_predict_refuse_another_class_count(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_options,
        demo_voc_root):
    path = tmp_path / 'five.pth'
    fix_line = _five_class_checkpoint(trained_work_dir, path)
    result = run_tool('test', demo_config, path, '--work-dir', tmp_path,
                      '--cfg-options', *demo_options, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    _refused(result.stdout, path, fix_line)
    assert 'testing with it would leave those layers random' in result.stdout
    image = next((Path(demo_voc_root) / 'JPEGImages').glob('*.jpg'))
    result = run_tool('predict', demo_config, path, image, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    _refused(result.stdout, path, fix_line)
    assert not (tmp_path / 'predictions').exists()


@pytest.mark.slow
def test_resume_refuses_another_class_count_load_from_fine_tunes(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_options):
    path = tmp_path / 'five.pth'
    fix_line = _five_class_checkpoint(trained_work_dir, path)
    work_dir = tmp_path / 'resumed'
    result = run_tool('train', demo_config, '--resume', path, '--work-dir',
                      work_dir, '--cfg-options', *demo_options,
                      'train_cfg.max_iters=3', cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    _refused(result.stdout, path, fix_line)
    assert 'resuming from it would leave those layers' in result.stdout
    assert not list(work_dir.glob('iter_*.pth'))

    work_dir = tmp_path / 'fine_tuned'
    output = run_tool('train', demo_config, '--work-dir', work_dir,
                      '--cfg-options', *demo_options, f'load_from={path}',
                      'train_cfg.max_iters=1',
                      'default_hooks.checkpoint.interval=1',
                      cwd=tmp_path).stdout
    [line] = [line for line in output.splitlines()
              if f'load_from {path}: skipped ' in line]
    assert ' - WARNING - ' in line and fix_line in line
    assert 'size mismatch' not in output
    assert 'missing keys in source state_dict' not in output
    tuned = load_from_local_weights_only(str(work_dir / 'iter_1.pth'))
    assert tuned['state_dict']['decode_head.score_fr.weight'].shape[0] == 21


@pytest.mark.slow
def test_tools_refuse_flipped_bytes_in_one_line(tmp_path, trained_work_dir,
                                                run_tool, demo_config,
                                                demo_options, demo_voc_root):
    path = tmp_path / 'iter_2.pth'
    data = bytearray((trained_work_dir / 'iter_2.pth').read_bytes())
    with zipfile.ZipFile(trained_work_dir / 'iter_2.pth') as archive:
        info = max((i for i in archive.infolist() if '/data/' in i.filename),
                   key=lambda i: i.file_size)  # the largest tensor
    # Its local header: 30 bytes, then the name and extra field lengths.
    lengths = data[info.header_offset + 26:info.header_offset + 30]
    name_length, extra_length = struct.unpack('<HH', lengths)
    start = (info.header_offset + 30 + name_length + extra_length +
             info.file_size // 2)
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))  # no sidecar beside it
    result = run_tool('test', demo_config, path, '--work-dir', tmp_path,
                      '--cfg-options', *demo_options, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    refusal = (f'Cannot load checkpoint {path}: its record {info.filename} '
               'fails its CRC-32 check')
    assert refusal in result.stdout
    assert 'Traceback' not in result.stdout
    image = next((Path(demo_voc_root) / 'JPEGImages').glob('*.jpg'))
    result = run_tool('predict', demo_config, path, image, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert refusal in result.stdout
    assert 'Traceback' not in result.stdout


@pytest.mark.slow
def test_resume_refuses_an_untrusted_checkpoint_in_one_line(
        tmp_path, run_tool, demo_config, demo_options):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}, 'meta': {'note': _Foreign()}}, path)
    result = run_tool('train', demo_config, '--resume', path, '--work-dir',
                      tmp_path / 'work', '--cfg-options', *demo_options,
                      cwd=tmp_path, expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert (f'Refused to load checkpoint {path}: it holds the object '
            f'{_Foreign.__module__}._Foreign') in result.stdout
    assert 'Traceback' not in result.stdout
