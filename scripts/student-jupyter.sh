#!/usr/bin/env bash
# Turn a Jupyter installation into the student's: nbgrader's instructor-only
# parts (formgrader, create-assignment and the course list) are disabled, and so is
# its assignment list, which needs an exchange a student's machine or Binder does not
# have ("Error fetching courses!"); the Validate button stays. JupyterLab asks no
# question about news and looks for no updates (no pop-up over the lesson), and saves
# widget state in notebooks (a saved interactive explorer reopens as it was, not as
# "Error displaying widget: model not found"). Kernels (the Lab's and those the Validate
# button starts) talk over Unix sockets in the user's private runtime folder, not over
# unencrypted loopback TCP (which ipykernel warns about at every kernel start).
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

# The server's own settings file of this environment (sys-prefix) or this user; generic
# settings are read from jupyter_server_config.json only (the .d folder holds extensions).
python_exe="$(dirname "$(command -v "$JUPYTER")")/python"
if [ "$SCOPE" = "--sys-prefix" ]; then
    config_dir="$("$python_exe" -c 'import sys; print(sys.prefix)')/etc/jupyter"
else
    config_dir="$("$JUPYTER" --config-dir)"
fi
mkdir -p "$config_dir"
# The server's kernels, and those of nbgrader's Validate button (nbgrader_config), which
# also skips the cells the grading plan skips (autograder.plan: experiments and figures no
# check needs), so that it finishes within nbgrader's 30 s per cell.
"$python_exe" - "$config_dir/jupyter_server_config.json" "$config_dir/nbgrader_config.json" <<'PY'
import json, sys
from pathlib import Path

for path in map(Path, sys.argv[1:]):
    config = json.loads(path.read_text()) if path.exists() else {}  # keep what others set
    if path.name == "nbgrader_config.json":
        config.setdefault("Execute", {})["skip_cells_with_tag"] = "skip-when-grading"
        config.get("KernelManager", {}).pop("transport", None)  # now in nbgrader_config.py
        if config.get("KernelManager") == {}:
            del config["KernelManager"]
    else:
        config.setdefault("KernelManager", {})["transport"] = "ipc"
    path.write_text(json.dumps(config, indent=2) + "\n")
PY
# nbgrader's kernels (the Validate button's, and `nbgrader autograde`'s in this environment)
# have no connection file, so jupyter_client would name their sockets "kernel-ipc-N",
# relative: the kernel binds them in the notebook's folder and the client looks in its own
# working folder ("Kernel didn't respond in 60 seconds" whenever the two differ). A connection
# file in the user's runtime folder, per process, gives them an absolute prefix (its name
# with "-ipc"); a course that sets the transport back to TCP still gets localhost.
cat > "$config_dir/nbgrader_config.py" <<'PY'
# Written by gradient-flow's scripts/student-jupyter.sh: Unix-socket kernels, absolute path.
import os

from jupyter_core.paths import jupyter_runtime_dir

_runtime = jupyter_runtime_dir()
os.makedirs(_runtime, mode=0o700, exist_ok=True)
c = get_config()  # noqa: F821 (traitlets' config files are run with get_config defined)
c.KernelManager.transport = "ipc"
c.KernelManager.connection_file = os.path.join(_runtime, f"nbgrader-{os.getpid()}.json")
PY

if [ "$SCOPE" = "--sys-prefix" ]; then  # the environment's own settings, read by every user
    app_dir="$("$JUPYTER" lab path | sed -n 's/^Application directory: *//p')"
    mkdir -p "$app_dir/settings"
    cat > "$app_dir/settings/overrides.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {
    "fetchNews": "false",
    "checkForUpdates": false
  },
  "@jupyter-widgets/jupyterlab-manager:plugin": {
    "saveState": true
  }
}
JSON
fi
