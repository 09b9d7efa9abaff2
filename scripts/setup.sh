#!/usr/bin/env bash
# Set up (or refresh) the course's virtual environment in .venv.
#
#   1. create .venv if it is missing
#   2. install the CPU build of torch FIRST, then pin it in a constraints file so
#      that nothing installed later can swap it for a multi-GB CUDA build
#   3. install the course (editable) with COURSE_EXTRAS: this repository adds its dev
#      extra (tests, lint); a published student repository installs coursekit alone
#   4. hide nbgrader's instructor-only extensions from the student's JupyterLab
#
# Re-running is cheap: every step checks whether it is already done.
# Override the torch requirement with TORCH_SPEC, e.g.
#   TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu" make lab
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
COURSE_EXTRAS="${COURSE_EXTRAS-[dev]}"
STAMP="$VENV/.course-installed"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

say() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { echo "[setup] Python >= 3.10 is needed; set PYTHON=/path/to/python3.x" >&2; exit 1; }
    say "creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
fi

# The stamp records what was installed; if nothing changed, we are done.
want="$(cat pyproject.toml scripts/setup.sh scripts/student-jupyter.sh | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi

if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    say "installing PyTorch (CPU): $TORCH_SPEC"
    # shellcheck disable=SC2086  # TORCH_SPEC may carry pip options on purpose
    "${PIP[@]}" install -q $TORCH_SPEC
fi
torch_version="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
echo "torch==$torch_version" > "$VENV/constraints.txt"
say "torch $torch_version pinned in $VENV/constraints.txt"

say "installing the course and its tools"
"${PIP[@]}" install -q -c "$VENV/constraints.txt" -e ".$COURSE_EXTRAS"

# Students never see formgrader or create-assignment; nbgrader's grading side is the
# instructor's tool. (The same is done for Binder in postBuild.)
say "hiding nbgrader's instructor extensions"
bash scripts/student-jupyter.sh "$VENV/bin/jupyter" --sys-prefix

echo "$want" > "$STAMP"
say "done"
