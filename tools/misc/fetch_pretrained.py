"""Put the ImageNet init weights where the configs expect them.

    python tools/misc/fetch_pretrained.py vgg16 [resnet50_v1c ...]
    python tools/misc/fetch_pretrained.py vgg16 --from vgg16-397923af.pth
    python tools/misc/fetch_pretrained.py --list

Downloads the official files (sha256-checked; rerun after a cut connection to
resume) or converts/copies a file you already downloaded (--from, one name).
"""
import argparse
import sys

from mmengine.utils import ProgressBar

from fcn_mm.apis.pretrained import PRETRAINED, DownloadError, fetch_pretrained
from fcn_mm.converters import ConversionError
from fcn_mm.engine import UntrustedCheckpointError

MIB = 1 << 20


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(f'  {e.name:22} -> {e.path}\n  {"":22}    {e.about}'
                         for e in PRETRAINED.values()))
    parser.add_argument('names', nargs='*', metavar='NAME',
                        help='init weights to fetch, see below')
    parser.add_argument('--from', dest='source', metavar='FILE',
                        help='a downloaded copy of the official file, to '
                        'convert or copy instead of downloading')
    parser.add_argument('--root', default='.',
                        help='folder the configs run from (default: .)')
    parser.add_argument('--list', action='store_true',
                        help='list the names, URLs and target paths')
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in PRETRAINED]
    if unknown or not (args.names or args.list):
        parser.error(f'unknown names {unknown}; ' * bool(unknown) +
                     'name one or more of: ' + ', '.join(PRETRAINED))
    if args.source and len(args.names) != 1:
        parser.error('--from converts one file: give exactly one name')
    return args


class _Bar:
    """mmengine's progress bar over MiB, started once the size is known."""

    def __init__(self):
        self.bar, self.shown = None, 0

    def __call__(self, done: int, total) -> None:
        if self.bar is None:
            self.bar = ProgressBar(-(-total // MIB) if total else 0)
        while self.shown < done // MIB:
            self.bar.update()
            self.shown += 1


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for entry in PRETRAINED.values():
            print(f'{entry.name}: {entry.url} -> {entry.path}')
        return 0
    for name in args.names:
        entry = PRETRAINED[name]
        print(f'{name}: {entry.about}')
        try:
            path = fetch_pretrained(name, root=args.root, source=args.source,
                                    progress=_Bar())
        except (DownloadError, ConversionError, FileNotFoundError,
                UntrustedCheckpointError) as error:
            print(f'\nerror: {error}', file=sys.stderr)
            return 1
        print(f'\n{name}: ready at {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
