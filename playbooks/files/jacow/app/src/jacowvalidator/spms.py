"""The references CSV check, with the real app's contract (developingAlex/jacow-validator,
src/jacowvalidator/spms.py): the file named by PATH_TO_JACOW_REFERENCES_CSV, read at
request time as ISO-8859-1 with a header row and the columns `paper`, `title` and
`authors`; a row matches the uploaded file's name without its extension. The same
exceptions and messages when the variable is unset or the file is missing."""

import csv
import os


class CSVPathNotDeclared(Exception):
    pass


class CSVFileNotFound(Exception):
    pass


class PaperNotFoundError(Exception):
    pass


def reference_csv_check(paper):
    path = os.environ.get("PATH_TO_JACOW_REFERENCES_CSV")
    if path is None:
        raise CSVPathNotDeclared(
            "The environment variable PATH_TO_JACOW_REFERENCES_CSV is not set! "
            "Unable to locate references.csv file for title checking"
        )
    if not os.path.isfile(path):
        raise CSVFileNotFound(f"No file was found at the location {path}")
    with open(path, encoding="ISO-8859-1", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        at = {name: header.index(name) for name in ("paper", "title", "authors")}
        for row in rows:
            if row[at["paper"]] == paper:
                return {name: row[i] for name, i in at.items()}
    raise PaperNotFoundError(
        f"It seems the file {paper} has no corresponding entry in the SPMS references list. "
        "Is your filename the same as your Paper name?"
    )
