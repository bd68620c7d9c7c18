"""emorecog: multimodal (face video + EEG) emotion recognition with recurrent temporal attention."""

from setuptools import setup

LIBRARY_PACKAGES = [
    "emorecog",
    "emorecog.datasets",
    "emorecog.datasets.synthetic",
    "emorecog.preprocessing",
    "emorecog.layers",
    "emorecog.models",
    "emorecog.training",
    "emorecog.serving",
    "emorecog.evaluation",
    "emorecog.commands",
    "emorecog.testing",
]

# components/ and pipelines/ live at the top of the repository (TFX layout) but are installed as
# emorecog.components and emorecog.pipelines, so no generic top-level name enters site-packages.
MAPPED_PACKAGES = {
    "emorecog.components": "components",
    "emorecog.pipelines": "pipelines",
}

setup(
    name="emorecog",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11,<3.12",
    packages=LIBRARY_PACKAGES + list(MAPPED_PACKAGES),
    package_dir=MAPPED_PACKAGES,
    install_requires=[
        "tensorflow==2.17.1",
        "keras>=3.6,<3.7",
        "tf-keras==2.17.0",
        "tensorflow-probability[tf]==0.24.0",
        "mediapipe==0.10.21",
        "numpy>=1.26,<2",
        "protobuf>=4.25.3,<4.26",
        "apache-beam==2.77.0",
        "google-crc32c",
        "PyWavelets",
        "scipy",
        "scikit-learn",
        "click",
        "tqdm",
        "tensorboard",
        "mne>=1.12,<1.13",
        "edfio>=0.4.18,<0.5",
        "opencv-contrib-python",
        "matplotlib",
    ],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={"console_scripts": ["emorecog=emorecog.cli:main"]},
)
