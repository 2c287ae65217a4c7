"""Convert a FastFCN authors' checkpoint (wuhuikai/FastFCN) to fcn_mm.

Command line over :func:`fcn_mm.converters.convert_fastfcn`, named like
MMSegmentation's ``tools/model_converters/*2mmseg.py``::

    python tools/model_converters/fastfcn2mmseg.py \
        runs/ade20k/encnet/encnet_res50_ade20k_train/model_best.pth.tar \
        checkpoints/fastfcn_r50-d32_jpu_enc_authors_ade20k.pth
    python tools/test.py \
        configs/fastfcn/fastfcn_r50-d32_jpu_enc_authors_ade20k-512x512.py \
        checkpoints/fastfcn_r50-d32_jpu_enc_authors_ade20k.pth

JPU + FCN, EncNet or PSP heads; the printed config keeps the authors'
conventions (deep stem 128 wide, JPU concat order, aligned corners).
"""
import argparse
import sys

from fcn_mm.converters import (ConversionError, convert_fastfcn, load_source,
                               save_checkpoint)
from fcn_mm.engine import UntrustedCheckpointError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert FastFCN authors\' JPU + FCN/EncNet/PSP weights '
        'to fcn_mm keys')
    parser.add_argument('src', help='FastFCN checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='where to write the fcn_mm checkpoint')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state_dict, info = convert_fastfcn(load_source(args.src))
    except (ConversionError, FileNotFoundError,
            UntrustedCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save_checkpoint(state_dict, args.dst, meta=info)
    print(f"converted {len(state_dict)} tensors of {info['source']} "
          f"(R-{info['depth']}, {info['head']} head, {info['num_classes']} "
          f"classes) -> {args.dst}")
    options = ''.join(f' {o}' for o in info['cfg_options'])
    print(f"test it with: python tools/test.py {info['config']} {args.dst}" +
          (f' --cfg-options{options}' if options else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
