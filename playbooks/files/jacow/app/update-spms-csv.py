#!/usr/bin/env python3
"""Download the SPMS conference CSV from jacow.org (run hourly by cron). Keeps the current
file when the download fails, and writes atomically."""

import os
import sys
import tempfile
import urllib.request

URL = os.environ.get("SPMS_URL", "https://www.jacow.org/uploads/Main/spms.csv")
dest = sys.argv[1]
try:
    data = urllib.request.urlopen(URL, timeout=30).read()
except OSError as e:
    print(f"keeping {dest}: {e}", file=sys.stderr)
    sys.exit(0)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest))
with os.fdopen(fd, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o644)
os.replace(tmp, dest)
