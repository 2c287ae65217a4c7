"""Write the synthetic VOC 2012 + SBD demo dataset.

Command line over :func:`fcn_mm.datasets.synthetic.make_demo_dataset`::

    python tools/misc/make_demo_data.py data/demo --seed 0
    python tools/convert_datasets/voc_aug.py data/demo/VOCdevkit \
        data/demo/benchmark_RELEASE
"""
import argparse
import sys

from fcn_mm.datasets.synthetic import make_demo_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a small synthetic PASCAL VOC 2012 + SBD dataset '
        'in the real on-disk formats')
    parser.add_argument('out', help='output folder')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    paths = make_demo_dataset(args.out, seed=args.seed)
    print(f"wrote VOC 2012 to {paths['voc2012']}")
    print(f"wrote SBD to {paths['sbd']}")
    print('next: python tools/convert_datasets/voc_aug.py '
          f"{paths['devkit']} {paths['sbd']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
