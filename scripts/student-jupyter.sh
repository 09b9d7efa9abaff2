#!/usr/bin/env bash
# Turn a Jupyter installation into the student's: nbgrader's instructor-only
# parts (formgrader, create-assignment and the course list) are disabled, the
# student-facing ones (validate button, assignment list) are left alone.
# Usage: student-jupyter.sh JUPYTER_EXECUTABLE [--sys-prefix|--user]
set -euo pipefail
JUPYTER="${1:-jupyter}"
SCOPE="${2:---sys-prefix}"
LEVEL="${SCOPE#--}"; LEVEL="${LEVEL//-/_}"   # labextension spells it sys_prefix
for plugin in formgrader create-assignment course-list; do
    "$JUPYTER" labextension disable --level="$LEVEL" "@jupyter/nbgrader:$plugin" >/dev/null 2>&1
done
for ext in formgrader course_list; do
    "$JUPYTER" server extension disable "$SCOPE" "nbgrader.server_extensions.$ext" >/dev/null 2>&1
done
