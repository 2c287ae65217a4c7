"""Convert SBD masks to VOC PNGs and write the VOC "aug" lists.

Command line over :func:`fcn_mm.datasets.voc_aug.convert_voc_aug`, spelled
like MMSegmentation's ``tools/dataset_converters/voc_aug.py``::

    python tools/convert_datasets/voc_aug.py data/VOCdevkit \
        data/VOCdevkit/VOCaug --nproc 8
"""
import argparse
import sys

from fcn_mm.datasets.voc_aug import DatasetConversionError, convert_voc_aug


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert PASCAL VOC 2012 + SBD ("VOC aug") annotations '
        'to the MMSegmentation layout')
    parser.add_argument(
        'devkit_path', help='folder holding VOC2012/ (e.g. data/VOCdevkit)')
    parser.add_argument(
        'aug_path',
        help='SBD benchmark_RELEASE folder (holding dataset/cls) '
        'or its parent')
    parser.add_argument(
        '-o',
        '--out-dir',
        '--out_dir',
        dest='out_dir',
        help='where the PNGs go (default: '
        'DEVKIT_PATH/VOC2012/SegmentationClassAug)')
    parser.add_argument(
        '--nproc', type=int, default=1, help='number of worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.nproc < 1:
        print(f'error: --nproc must be at least 1, got {args.nproc}',
              file=sys.stderr)
        return 1
    try:
        result = convert_voc_aug(
            args.devkit_path, args.aug_path, args.out_dir, nproc=args.nproc)
    except (DatasetConversionError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f"wrote {result['converted']} PNGs to {result['out_dir']}")
    print(f"wrote {result['aug']} ids to {result['aug_file']}")
    print(f"wrote {result['trainaug']} ids to {result['trainaug_file']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
