"""The stand-in's setup.py, shaped as the real one (developingAlex/jacow-validator,
setup.py): package `jacowvalidator` in a src layout, version 0.0.1, the `jv` console
script. Of the real install_requires it keeps what Debian ships (python3-flask,
python3-docx, python3-dotenv), so the sandbox installs offline; flask-uploads and
titlecase, which the stand-in does not use, are left out."""

from setuptools import find_packages, setup

setup(
    name="jacowvalidator",
    version="0.0.1",
    package_dir={"": "src"},
    packages=find_packages("src"),
    install_requires=["flask", "python-docx", "python-dotenv"],
    entry_points={"console_scripts": ["jv=jacowvalidator.cli:cli"]},
)
