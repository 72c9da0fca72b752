"""Install the abaw toolkit: ``pip install -e .[test]``."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "abaw" / "__init__.py").read_text()).group(1)

setup(
    name="abaw",
    version=VERSION,
    description="End-to-end toolkit for the ABAW valence-arousal challenge on Aff-Wild2 (ALN model)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["abaw", "abaw.*"]),
    include_package_data=True,
    data_files=[("share/abaw/baselines", ["baselines/published_results.json"])],
    install_requires=[
        "torch>=2.2",
        "torchvision>=0.17",
        "timm>=1.0",
        "numpy>=1.24",
        "pandas>=2.0",
        "opensmile>=2.5",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "threadpoolctl>=3.1",
        "click>=8.1",
        "rich>=13.0",
        "Pillow>=10.0",
        "av>=12.0",
        "PyYAML>=6.0",
        "matplotlib>=3.7",
    ],
    extras_require={"test": ["pytest>=7.4", "ruff>=0.5", "tensorboard>=2.12"], "tensorboard": ["tensorboard>=2.12"]},
    entry_points={"console_scripts": ["abaw=abaw.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
