"""Stand-in for the JACoW validator (developingAlex/jacow-validator,
src/jacowvalidator/__init__.py): a Flask `app` made when the package is imported, no
factory, its routes registered by importing `routes`. Uploads go under
UPLOADS_DEFAULT_DEST (default /var/tmp), as in the real one."""

import os

from flask import Flask

app = Flask(__name__)
app.config.update(UPLOADS_DEFAULT_DEST=os.environ.get("UPLOADS_DEFAULT_DEST", "/var/tmp"))

from jacowvalidator import routes  # noqa: E402,F401
