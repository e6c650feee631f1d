"""`jv`, the console script setup.py declares (developingAlex/jacow-validator,
src/jacowvalidator/cli.py: a click FlaskGroup); here `jv run` serves on :5000."""

import sys


def cli():
    from jacowvalidator import app

    if sys.argv[1:2] != ["run"]:
        print("usage: jv run", file=sys.stderr)
        sys.exit(2)
    app.run(port=5000)
