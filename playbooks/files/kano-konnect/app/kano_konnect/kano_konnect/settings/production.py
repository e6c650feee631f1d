import os

from .base import *  # noqa: F401,F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("KANO_DB_NAME", "kano_konnect"),
        "USER": os.environ.get("KANO_DB_USER", "kano"),
        "PASSWORD": os.environ.get("KANO_DB_PASSWORD", ""),
        "HOST": os.environ.get("KANO_DB_HOST", "127.0.0.1"),
        "PORT": "5432",
    }
}
