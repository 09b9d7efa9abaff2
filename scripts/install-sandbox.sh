#!/usr/bin/env bash
# Make Debian's bubblewrap available: `autograder grade` runs every student's kernel
# in a bwrap jail (autograder/sandbox.py). Only the distribution's package, and only
# where we may (root with apt-get). Elsewhere grading says, at its start and in
# report.json, that it runs without isolation; under CI=true the jail tests fail.
set -uo pipefail
command -v bwrap >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's bubblewrap for the grading sandbox"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap util-linux >/dev/null) \
        || echo "[setup] could not install bubblewrap; grading will run without isolation"
fi
exit 0
