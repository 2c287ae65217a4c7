"""fcn_mm.engine.checkpoint: mmengine checkpoints load weights-only on torch
2.6+, anything else in a checkpoint is refused with a useful error, and
empty, truncated, altered or non-checkpoint files are named as such."""
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from fcn_mm.engine import (MMENGINE_CHECKPOINT_GLOBALS, CorruptCheckpointError,
                           UntrustedCheckpointError,
                           allow_mmengine_checkpoints,
                           load_from_local_weights_only)


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
    assert 'it is truncated or corrupt' in message
    assert 'central directory' in message


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
