"""ImageNet initialisations the configs expect under ``checkpoints/``.

Each entry says where a config looks for the file, where the official weights
come from and how they become that file: torchvision's VGG16 is converted to
``FCNVGG16`` keys, OpenMMLab's ResNet V1c and torchvision's ResNets load as
they are. :func:`fetch_pretrained` downloads one (resumable with HTTP Range,
checked against the sha256 its name carries, as ``torch.hub`` checks it) or
converts a copy the user already has; ``tools/misc/fetch_pretrained.py`` is
its command line.
"""
import hashlib
import http.client
import os
import os.path as osp
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import FcnMmError
from ..fileio import atomic_write

__all__ = [
    'PRETRAINED', 'Pretrained', 'DownloadError', 'download',
    'fetch_pretrained', 'pretrained_for_path', 'sha256_of'
]

Progress = Callable[[int, Optional[int]], None]  # (bytes so far, total)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Pretrained:
    """Where a config's init weights come from.

    Args:
        name (str): What users type, e.g. ``'vgg16'``.
        path (str): Where the configs expect the file, from the repository.
        url (str): The official download.
        sha256 (str): The start of the file's sha256 (the hex part of its
            name, as torch.hub and OpenMMLab name their files).
        about (str): One line on what it is.
        convert (bool): Whether it needs converting to fcn_mm's keys.
    """
    name: str
    path: str
    url: str
    sha256: str
    about: str
    convert: bool = False

    @property
    def command(self) -> str:
        """The command that puts this file where the configs expect it."""
        return f'python tools/misc/fetch_pretrained.py {self.name}'


_TORCHVISION = 'https://download.pytorch.org/models'
_OPENMMLAB = 'https://download.openmmlab.com/pretrain/third_party'
PRETRAINED = {entry.name: entry for entry in (
    Pretrained('vgg16', 'checkpoints/vgg16_imagenet_fcn_mm.pth',
               f'{_TORCHVISION}/vgg16-397923af.pth', '397923af',
               "torchvision's ImageNet VGG16, converted to FCNVGG16 keys",
               convert=True),
    Pretrained('resnet50_v1c', 'checkpoints/resnet50_v1c.pth',
               f'{_OPENMMLAB}/resnet50_v1c-2cccc1ad.pth', '2cccc1ad',
               "OpenMMLab's ImageNet ResNet-50 V1c "
               '(open-mmlab://resnet50_v1c)'),
    Pretrained('resnet101_v1c', 'checkpoints/resnet101_v1c.pth',
               f'{_OPENMMLAB}/resnet101_v1c-e67eebb6.pth', 'e67eebb6',
               "OpenMMLab's ImageNet ResNet-101 V1c "
               '(open-mmlab://resnet101_v1c)'),
    Pretrained('resnet50_torchvision', 'checkpoints/resnet50_torchvision.pth',
               f'{_TORCHVISION}/resnet50-0676ba61.pth', '0676ba61',
               "torchvision's ImageNet ResNet-50 (its keys are mmseg "
               "ResNet's)"),
    Pretrained('resnet101_torchvision',
               'checkpoints/resnet101_torchvision.pth',
               f'{_TORCHVISION}/resnet101-63fe2227.pth', '63fe2227',
               "torchvision's ImageNet ResNet-101 (its keys are mmseg "
               "ResNet's)"),
)}


class DownloadError(FcnMmError, RuntimeError):
    """A download failed; the message says whether rerunning resumes it."""


def pretrained_for_path(path: str) -> Optional[Pretrained]:
    """The entry whose file a config names as ``path``, or None."""
    normal = osp.normpath(path)
    for entry in PRETRAINED.values():
        if normal == entry.path or normal.endswith(os.sep + entry.path):
            return entry
    return None


def sha256_of(path: str) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _open(url: str, start: int, timeout: float):
    """The response for ``url`` from byte ``start`` on; None when the server
    says there is nothing after ``start`` (HTTP 416 on a resumed file)."""
    headers = {'Range': f'bytes={start}-'} if start else {}
    try:
        return urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            return None
        raise DownloadError(f'{url}: HTTP {error.code} {error.reason}; '
                            'check the address') from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(
            f'cannot reach {url} ({getattr(error, "reason", error)}); check '
            'the connection, or download the file another way and pass it '
            'with --from FILE') from error


def download(url: str, dst: str, *, sha256: str,
             progress: Optional[Progress] = None,
             timeout: float = 60.) -> str:
    """Download ``url`` to ``dst``, resuming a partial earlier download.

    Bytes arrive in ``dst + '.part'``, which survives a cut connection so that
    the next call asks only for the rest (HTTP Range; a server that ignores
    Range sends the whole file again). The finished file is checked against
    ``sha256`` and only then renamed to ``dst``, so ``dst`` is either absent
    or complete and verified.

    Args:
        url (str): What to download.
        dst (str): Where to put it; missing folders are created.
        sha256 (str): The expected sha256 in hex, or its start.
        progress (Callable, optional): Called with (bytes so far, total
            bytes or None) after every chunk. Defaults to None.
        timeout (float): Seconds to wait for the server. Defaults to 60.

    Returns:
        str: ``dst``.

    Raises:
        DownloadError: The server cannot be reached or fails, the connection
            is cut (rerun to resume), or the sha256 differs (the partial file
            is removed).
    """
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    part = dst + '.part'
    done = osp.getsize(part) if osp.isfile(part) else 0
    response = _open(url, done, timeout)
    total, cause = done, 'the server sent no more'
    if response is not None:
        with response, open(part, 'ab' if done else 'wb') as f:
            if done and response.status != 206:
                done = 0  # the server ignored Range: start again
                f.truncate(0)
            length = response.headers.get('Content-Length')
            total = done + int(length) if length is not None else None
            try:
                for chunk in iter(lambda: response.read(CHUNK), b''):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            except (OSError, http.client.HTTPException) as error:
                total, cause = max(total or 0, done + 1), repr(error)
    if total is not None and done < total:
        raise DownloadError(
            f'the download of {url} stopped at {done} of {total} bytes '
            f'({cause}); run the same command again to resume from {part}')
    found = sha256_of(part)
    if not found.startswith(sha256.lower()):
        os.remove(part)
        raise DownloadError(
            f'{url}: the downloaded file has sha256 {found}, expected one '
            f'starting with {sha256}; it is corrupt or not the official file '
            'and was removed. Run the command again; if it fails the same '
            'way, download the file by hand and check it.')
    os.replace(part, dst)
    return dst


def _copy(source: str, target: str) -> None:
    with open(source, 'rb') as src:
        atomic_write(target, lambda f: shutil.copyfileobj(src, f, CHUNK))


def fetch_pretrained(name: str, *, root: str = '.',
                     source: Optional[str] = None,
                     progress: Optional[Progress] = None) -> str:
    """Put the init weights ``name`` where the configs expect them.

    Args:
        name (str): A key of :data:`PRETRAINED`.
        root (str): The folder the configs run from (the repository).
            Defaults to '.'.
        source (str, optional): A copy of the official file the user already
            has; converted or copied instead of downloading. Defaults to None.
        progress (Callable, optional): See :func:`download`.

    Returns:
        str: The path of the file the configs read.

    Raises:
        KeyError: ``name`` is unknown.
        FileNotFoundError: ``source`` is not a file.
        DownloadError: See :func:`download`; also a ``source`` that is not
            the official file where no conversion checks it.
        fcn_mm.converters.ConversionError: ``source`` is not a VGG16.
    """
    if name not in PRETRAINED:
        raise KeyError(f'unknown init weights {name!r}; choose from '
                       f'{", ".join(PRETRAINED)}')
    entry = PRETRAINED[name]
    target = osp.join(root, entry.path)
    if source is None:
        if osp.isfile(target):
            return target
        source = osp.join(root, 'checkpoints', osp.basename(entry.url))
        if not entry.convert:
            source = target
        if not osp.isfile(source):
            download(entry.url, source, sha256=entry.sha256,
                     progress=progress)
    elif not osp.isfile(source):
        raise FileNotFoundError(f'no file at {source}; give the path of the '
                                f'downloaded {osp.basename(entry.url)}')
    if entry.convert:
        # Imported here: torch and the converters are needed only for this.
        from ..converters import (convert_torchvision_vgg16, load_source,
                                  save_checkpoint)
        state_dict, info = convert_torchvision_vgg16(load_source(source))
        save_checkpoint(state_dict, target, meta=info)
    elif osp.abspath(source) != osp.abspath(target):
        found = sha256_of(source)
        if not found.startswith(entry.sha256):
            raise DownloadError(
                f'{source} has sha256 {found}, but the official '
                f'{osp.basename(entry.url)} starts with {entry.sha256}; give '
                f'that file, or copy yours to {target} if you trust it.')
        os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
        _copy(source, target)
    return target
