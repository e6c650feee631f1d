# Production, with the real production.py's contract (thanasio/connect,
# kano_konnect/kano_konnect/settings/production.py): SECRET_KEY is required
# (ImproperlyConfigured without it); PostgreSQL as the user postgres, the database,
# password and address from DATABASE_NAME, POSTGRES_PASS and POSTGRES_IP.
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403


def get_env_setting(setting):
    try:
        return os.environ[setting]
    except KeyError:
        raise ImproperlyConfigured(f"Set the {setting} env variable")


SECRET_KEY = get_env_setting("SECRET_KEY")
ALLOWED_HOSTS = ["*"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.getenv("DATABASE_NAME"),
        "USER": "postgres",
        "PASSWORD": os.getenv("POSTGRES_PASS"),
        "HOST": os.getenv("POSTGRES_IP"),
        "PORT": "5432",
    }
}
