# Stand-in for elifesciences/elife-tools' setup.py: the package `elifetools`, its version
# read from the package, as the real one does.
from setuptools import setup

import elifetools

setup(name="elifetools", version=elifetools.__version__, packages=["elifetools"])
