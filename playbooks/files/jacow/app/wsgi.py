"""Stand-in for the JACoW validator (a Flask app served by gunicorn): a WSGI `app` that
answers with its name, the number of conferences in the SPMS CSV it was given, and the
version of its code. Standard library only."""

import csv
import os
import pathlib

CSV = pathlib.Path(os.environ.get("SPMS_CSV", "/home/ec2-user/spms.csv"))
VERSION = (pathlib.Path(__file__).parent / "VERSION").read_text().strip()


def conferences():
    if not CSV.exists():
        return 0
    with CSV.open(newline="") as f:
        return sum(1 for _ in csv.reader(f))


def app(environ, start_response):
    body = f"JACoW validator {VERSION}\nconferences: {conferences()}\npath: {environ.get('PATH_INFO', '/')}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
