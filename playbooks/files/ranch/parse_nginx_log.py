#!/usr/bin/env python3
"""Count today's requests per API path in nginx's access log and write them as JSON to
DEST/viewbovis_requests_YYYY-mm-dd (run by viewbovis_analytics.service before shutdown)."""

import collections
import datetime
import json
import pathlib
import sys


def main():
    log, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    today = datetime.date.today()
    stamp = today.strftime("%d/%b/%Y")
    counts = collections.Counter()
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split('"')
            if stamp in line and len(parts) > 1 and parts[1].startswith("GET "):
                counts[parts[1].split()[1].split("?")[0]] += 1
    out = dest / f"viewbovis_requests_{today.isoformat()}"
    out.write_text(json.dumps(dict(counts), indent=4) + "\n")


if __name__ == "__main__":
    main()
