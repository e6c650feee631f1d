# gunicorn's `wsgi:app`, as in the real checkout (developingAlex/jacow-validator, wsgi.py)
from jacowvalidator import app  # noqa: F401
