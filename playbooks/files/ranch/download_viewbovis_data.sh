#!/bin/sh
# Download the latest ViewBovis production data into $1.
# Production syncs s3://s3-csu-003 with the AWS CLI; where the CLI or the bucket is not
# reachable (a test host), the current data is kept and a stand-in version is written
# when there is none.
set -eu
dest=${1:?usage: download_viewbovis_data.sh DEST}
if command -v aws >/dev/null 2>&1 && aws s3 ls s3://s3-csu-003/ >/dev/null 2>&1; then
    aws s3 sync --delete s3://s3-csu-003/viewbovis/prod/ "$dest/"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$dest/VERSION"
elif [ ! -s "$dest/VERSION" ]; then
    echo "stand-in $(date -u +%Y-%m-%d)" > "$dest/VERSION"
fi
# the page the stand-in app serves (the real app reads the data itself)
mkdir -p "$dest/www"
printf 'ViewBovis\ndata: %s\n' "$(cat "$dest/VERSION")" > "$dest/www/index.html"
