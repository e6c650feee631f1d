#!/usr/bin/env python3
"""update-jacow-references URL DEST: the runbook's hourly cron, which kept a local copy of
the conference's references CSV from the JACoW SPMS site for the validator
(PATH_TO_JACOW_REFERENCES_CSV). Keeps the current file when the download fails, and
writes atomically, so the app never reads half a file. Any URL urllib opens (a sandbox
uses a file: URL)."""

import os
import sys
import tempfile
import urllib.request

url, dest = sys.argv[1], sys.argv[2]
try:
    data = urllib.request.urlopen(url, timeout=30).read()
except (OSError, ValueError) as e:
    print(f"keeping {dest}: {e}", file=sys.stderr)
    sys.exit(0 if os.path.exists(dest) else 1)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".")
with os.fdopen(fd, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o644)
os.replace(tmp, dest)
