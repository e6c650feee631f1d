# The production settings, reading the environment as the real config/production.py does
# (CMLPlatform/ramascene): HOST, DATASETS_VERSION, SECRET_KEY and BROKER_URL are required
# (os.environ[...]: a KeyError at start when one is missing); DATASETS_DIR and PUBLIC_DIR
# have defaults (the former the real one's Windows path).
import os

from .base import *  # noqa: F401,F403
from .base import BASE_DIR

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ALLOWED_HOSTS.append(os.environ["HOST"])
DATASET_DIR = os.environ.get("DATASETS_DIR", "C:\\projects\\rama-scene_data\\rawData")
DATASET_VERSION = os.environ["DATASETS_VERSION"]
SECRET_KEY = os.environ["SECRET_KEY"]
CELERY_BROKER_URL = os.environ["BROKER_URL"]
STATIC_ROOT = BASE_DIR / os.environ.get("PUBLIC_DIR", "") / "static"
