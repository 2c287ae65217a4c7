"""What every converter writes: the checkpoint and its sha256 sidecar, so that
altered bytes are found at every load, as for the runner's checkpoints."""
import hashlib

import pytest
import torch

from fcn_mm.converters import save_checkpoint
from fcn_mm.converters import common
from fcn_mm.converters.cli import converter_parser, run_converter
from fcn_mm.engine import CorruptCheckpointError, load_from_local_weights_only


def _sha256sum_line(path):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f'{digest}  {path.name}\n'


def test_a_converted_checkpoint_gets_a_sha256sum_sidecar(tmp_path):
    src, dst = tmp_path / 'source.pth', tmp_path / 'out' / 'converted.pth'
    weight = torch.arange(256, dtype=torch.float32)
    torch.save({'fc6.weight': weight}, src)
    status = run_converter(
        lambda checkpoint: (dict(checkpoint), dict(source='a test')),
        converter_parser('test converter', 'source'), [str(src), str(dst)])
    assert status == 0
    sidecar = tmp_path / 'out' / 'converted.pth.sha256'
    assert sidecar.read_text() == _sha256sum_line(dst)
    assert load_from_local_weights_only(str(dst))['state_dict'][
        'fc6.weight'].equal(weight)
    # Flipped bytes inside the weights are refused by the sidecar.
    data = bytearray(dst.read_bytes())
    start = data.find(weight.numpy().tobytes()) + 512
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    dst.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match='recorded in .*sha256'):
        load_from_local_weights_only(str(dst))


def test_a_rewrite_replaces_the_sidecar_first(tmp_path, monkeypatch):
    path = tmp_path / 'converted.pth'
    save_checkpoint({'w': torch.zeros(4)}, str(path))
    first = (tmp_path / 'converted.pth.sha256').read_text()
    save_checkpoint({'w': torch.ones(4)}, str(path))
    second = (tmp_path / 'converted.pth.sha256').read_text()
    assert second != first and second == _sha256sum_line(path)

    def killed(path):
        raise KeyboardInterrupt

    # Stopped after the new file, before its sidecar: no stale sidecar makes
    # the new, intact file look altered; its zip CRCs are checked instead.
    monkeypatch.setattr(common, 'write_checksum', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'w': torch.full((4, ), 2.0)}, str(path))
    assert not (tmp_path / 'converted.pth.sha256').exists()
    assert load_from_local_weights_only(
        str(path))['state_dict']['w'].equal(torch.full((4, ), 2.0))


def test_a_source_with_flipped_bytes_is_refused_naming_it(tmp_path, capsys):
    src, dst = tmp_path / 'source.pth', tmp_path / 'converted.pth'
    weight = torch.arange(256, dtype=torch.float32)
    torch.save({'fc6.weight': weight}, src)
    data = bytearray(src.read_bytes())
    start = data.find(weight.numpy().tobytes()) + 512
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    src.write_bytes(bytes(data))
    status = run_converter(
        lambda checkpoint: (dict(checkpoint), dict(source='a test')),
        converter_parser('test converter', 'source'), [str(src), str(dst)])
    assert status == 1
    assert capsys.readouterr().err == (
        f'error: {src} -> {dst}: Cannot load checkpoint {src}: its record '
        'source/data/0 fails its CRC-32 check: bytes were altered since it '
        'was saved. Use an older checkpoint of the run (tools/train.py '
        '--resume picks the newest intact one) or copy the file again from '
        'its source.\n')
    assert not dst.exists()
