from setuptools import setup

setup(
    name="elifebot",
    version="1.4.0",
    description="Stand-in for the eLife bot's workers, deciders and cron",
    packages=["elifebot"],
    entry_points={"console_scripts": ["elifebot=elifebot.__main__:main"]},
)
