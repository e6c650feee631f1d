"""The stand-in's routes, on the real ones' paths (developingAlex/jacow-validator,
src/jacowvalidator/routes.py): `/` redirects to `/upload`; `POST /upload` takes a .docx
in the multipart field `document` and checks its paper against the references CSV. The
page shows the checkout's commit, read with `git log -1` when the app starts, as the real
one does. Plain text instead of the real templates."""

import os
import subprocess
import tempfile

from flask import redirect, request, url_for

from jacowvalidator import app
from jacowvalidator.spms import PaperNotFoundError, reference_csv_check


def _commit():
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h,%at"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.split(",")[0]
    except (OSError, subprocess.CalledProcessError):
        return None


COMMIT = _commit()


def page(text, status=200):
    body = f"JACoW validator [{COMMIT}]\n{text}\n"
    return body, status, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/")
def index():
    return redirect(url_for("upload"))


@app.route("/upload", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return page("upload a .docx in the field `document`")
    document = request.files.get("document")
    if document is None or not document.filename:
        return page("no file was uploaded", 400)
    name = document.filename
    if not name.endswith(".docx"):
        return page("Wrong file extension. Please upload .docx files only", 400)
    dest = os.path.join(app.config["UPLOADS_DEFAULT_DEST"], "document")
    os.makedirs(dest, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=dest, suffix=".docx")
    try:
        with os.fdopen(fd, "wb") as f:
            document.save(f)
        paper = os.path.splitext(os.path.basename(name))[0]
        found = reference_csv_check(paper)
        return page(f"paper: {found['paper']}\ntitle: {found['title']}\nauthors: {found['authors']}")
    except PaperNotFoundError as e:
        return page(str(e), 404)
    except Exception as e:
        if app.debug:
            raise
        app.logger.error("Failed to process document: %s: %s", name, e)
        return page(f"Failed to process document: {name}", 500)
    finally:
        os.unlink(path)
