"""Install fcn_mm: ``pip install -e .`` (run ``bash tools/setup_env.sh`` for the full stack)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r"__version__ = '([^']+)'",
                    Path(__file__).with_name('fcn_mm').joinpath(
                        '__init__.py').read_text()).group(1)

setup(
    name='fcn_mm',
    version=VERSION,
    description='Fully Convolutional Networks (FCN-8s/16s/32s, FastFCN) '
    'as an MMSegmentation 1.x plugin',
    long_description=Path(__file__).with_name('README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['fcn_mm', 'fcn_mm.*']),
    # torch and mmcv are installed by tools/setup_env.sh: torch must keep the
    # build the user has (CPU or CUDA) and mmcv must be compiled against it,
    # which pip's dependency resolver cannot express.
    install_requires=[
        'mmengine==0.10.7',
        'mmsegmentation==1.2.2',
        'ftfy',
        'regex',
        'numpy>=2',
        'scipy',
        'pillow',
    ],
    extras_require={
        'tests': ['pytest'],
        # tools/deploy/export_onnx.py (torch's exporter needs onnxscript) and
        # tools/predict.py --backend onnxruntime.
        'deploy': ['onnx>=1.16', 'onnxscript>=0.3', 'onnxruntime>=1.18'],
    },
    license='Apache-2.0',
)
