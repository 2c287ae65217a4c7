"""The command line every ``tools/model_converters/*2mmseg.py`` shares.

``SRC DST`` and the converter's own options in, then: read SRC weights-only,
convert, write DST atomically, say what was converted and how to test it.
This is the command-line layer, so it prints; a bad checkpoint is one line on
stderr naming the file and exit status 1, and nothing is written.
"""
import argparse
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..engine.checkpoint import UntrustedCheckpointError
from .common import ConversionError, load_source, save_checkpoint

__all__ = ['converter_parser', 'format_options', 'run_converter']


def converter_parser(description: str, source_help: str,
                     **options: dict) -> argparse.ArgumentParser:
    """A parser with ``src``, ``dst`` and the converter's own options.

    Args:
        description (str): What the tool converts.
        source_help (str): What SRC is.
        **options (dict): ``add_argument`` keywords of each ``--name``,
            by the name of the converter's keyword argument it sets.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=source_help)
    parser.add_argument('dst', help='where to write the fcn_mm checkpoint')
    for name, option in options.items():
        parser.add_argument(f'--{name}', **option)
    return parser


def _shell(value: Any) -> str:
    """A value as ``--cfg-options`` reads it back (mmengine's DictAction)."""
    if isinstance(value, (list, tuple)):
        inner = ','.join(_shell(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def format_options(options: Dict[str, Any]) -> List[str]:
    """``{'model.x': [1, 2]}`` -> ``['model.x=[1,2]']``, one shell word each.
    """
    return [f'{key}={_shell(value)}' for key, value in options.items()]


def run_converter(convert: Callable,
                  parser: argparse.ArgumentParser,
                  argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv``, convert, save, report; the ``main`` of a converter.

    Args:
        convert (Callable): ``convert(checkpoint, **options)`` returning the
            state dict and a description with ``source`` and, where a config
            reproduces the source, ``config`` (relative to ``configs/``) and
            ``cfg_options``.
        parser (argparse.ArgumentParser): From :func:`converter_parser`; every
            option but ``src`` and ``dst`` goes to ``convert`` by name.
        argv (Sequence[str], optional): Arguments. Defaults to sys.argv.

    Returns:
        int: The exit status: 0, or 1 when SRC cannot be converted or DST
        cannot be written.
    """
    args = vars(parser.parse_args(argv))
    src, dst = args.pop('src'), args.pop('dst')
    try:
        state_dict, info = convert(load_source(src), **args)
        save_checkpoint(state_dict, dst, meta=info)
    except (ConversionError, UntrustedCheckpointError, OSError) as error:
        print(f'error: {src} -> {dst}: {error}', file=sys.stderr)
        return 1
    dropped = ', '.join(info.get('dropped', ()))
    dropped = f' (dropped {dropped})' if dropped else ''
    print(f"converted {len(state_dict)} tensors of {info['source']}{dropped} "
          f'-> {dst}')
    if 'config' in info:
        command = ['python', 'tools/test.py', f"configs/{info['config']}", dst]
        if info['cfg_options']:
            command += ['--cfg-options', *format_options(info['cfg_options'])]
        print(f"test it with: {' '.join(command)}")
    return 0
