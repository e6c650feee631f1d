# The revision this process runs (the checkout's commit) and the process's ID, read once
# when the process starts: uWSGI and the Celery worker import the project package (its
# __init__ imports celery.py, which imports this) before they serve anything.
import os
import subprocess
from os.path import abspath, dirname

REVISION = subprocess.run(
    ["git", "rev-parse", "HEAD"], cwd=dirname(abspath(__file__)), capture_output=True, text=True, check=True
).stdout.strip()
STARTED = os.getpid()
