#!/usr/bin/env bash
# Turn a Jupyter installation into the student's: nbgrader's instructor-only
# parts (formgrader, create-assignment and the course list) are disabled, and so is
# its assignment list, which needs an exchange a student's machine or Binder does not
# have ("Error fetching courses!"); the Validate button stays. JupyterLab asks no
# question about news and looks for no updates (no pop-up over the lesson).
# Usage: student-jupyter.sh JUPYTER_EXECUTABLE [--sys-prefix|--user]
set -euo pipefail
JUPYTER="${1:-jupyter}"
SCOPE="${2:---sys-prefix}"
LEVEL="${SCOPE#--}"; LEVEL="${LEVEL//-/_}"   # labextension spells it sys_prefix
for plugin in formgrader create-assignment course-list assignment-list; do
    "$JUPYTER" labextension disable --level="$LEVEL" "@jupyter/nbgrader:$plugin" >/dev/null 2>&1
done
for ext in formgrader course_list assignment_list; do
    "$JUPYTER" server extension disable "$SCOPE" "nbgrader.server_extensions.$ext" >/dev/null 2>&1
done
if [ "$SCOPE" = "--sys-prefix" ]; then  # the environment's own settings, read by every user
    app_dir="$("$JUPYTER" lab path | sed -n 's/^Application directory: *//p')"
    mkdir -p "$app_dir/settings"
    cat > "$app_dir/settings/overrides.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {
    "fetchNews": "false",
    "checkForUpdates": false
  }
}
JSON
fi
