# As the real config/dev.py (CMLPlatform/ramascene): a fixed key, DEBUG, local only.
import os

from .base import *  # noqa: F401,F403
from .base import BASE_DIR

SECRET_KEY = "dev-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1"]
CELERY_BROKER_URL = "amqp://localhost"
DATASET_DIR = os.environ.get("DATASETS_DIR", str(BASE_DIR / "datasets"))
DATASET_VERSION = os.environ.get("DATASETS_VERSION", "v3")
