#!/usr/bin/env bash
# Set up (or refresh) the course's virtual environment in .venv, one printed line per step:
#
#   1. create .venv if it is missing
#   2. install PyTorch's CPU build (TORCH_SPEC, default torch==2.13.0) from PyTorch's own
#      CPU wheel index (TORCH_INDEX, default https://download.pytorch.org/whl/cpu); where
#      that index cannot be reached, from pip's default index, with a one-line note
#   3. pin the torch now installed: .venv/constraints.txt, which .venv/pip.conf hands to
#      every later `pip install` in .venv, so nothing can swap it for a multi-GB CUDA build
#   4. install the course (editable) with COURSE_EXTRAS: this repository adds its dev
#      extra (tests, lint); a published student repository installs coursekit alone
#   5. make JupyterLab the student's (scripts/student-jupyter.sh)
#   6. say which torch is installed (CPU or CUDA build)
#
# torch is not imported before step 6: importing it before numpy is installed warns
# "Failed to initialize NumPy". On a terminal pip shows its progress; with CI=true or
# without a terminal it is quiet (-q) and only the steps are printed.
# Re-running is cheap: a stamp records what was installed; every step checks its work.
#   TORCH_SPEC="torch==2.5.1" make lab          another version (same CPU index)
#   TORCH_INDEX="" make lab                     pip's default index only
#   bash scripts/setup.sh --torch-command       print how torch would be installed, and exit
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
COURSE_EXTRAS="${COURSE_EXTRAS-[dev]}"
STAMP="$VENV/.course-installed"

say() { printf '[setup] %s\n' "$*"; }

if [ -t 1 ] && [ -z "${CI:-}" ]; then
    PIP_VERBOSITY=()        # pip's own progress: what it fetches, with progress bars
else
    PIP_VERBOSITY=(-q)      # CI or a log file: the step lines are enough
fi

# Whether a PEP 503 index (http(s):// or file://) answers for torch within 10 s.
index_reachable() {
    "$1" - "$2" <<'PY'
import sys
import urllib.request
from pathlib import Path

url = sys.argv[1].rstrip("/") + "/torch/"
if url.startswith("file://"):
    sys.exit(0 if Path(urllib.request.url2pathname(url[len("file://") :])).is_dir() else 1)
try:
    urllib.request.urlopen(url, timeout=10).close()
except Exception:
    sys.exit(1)
PY
}

# The arguments of `pip install` for torch; a note on stderr when falling back.
torch_args() {
    local python="$1"
    # shellcheck disable=SC2086  # TORCH_SPEC may carry pip options on purpose
    if [ -z "$TORCH_INDEX" ] || [[ "$TORCH_SPEC" == *--index-url* ]]; then
        echo $TORCH_SPEC
    elif index_reachable "$python" "$TORCH_INDEX"; then
        echo $TORCH_SPEC --index-url "$TORCH_INDEX"
    else
        say "note: PyTorch's CPU index ($TORCH_INDEX) cannot be reached; installing" \
            "$TORCH_SPEC from pip's default index (on Linux, PyPI's build is the CUDA one)" >&2
        echo $TORCH_SPEC
    fi
}

if [ "${1:-}" = "--torch-command" ]; then
    python="$VENV/bin/python"
    [ -x "$python" ] || python="$PYTHON"
    echo "pip install $(torch_args "$python")"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { echo "[setup] Python >= 3.10 is needed; set PYTHON=/path/to/python3.x" >&2; exit 1; }
    say "1/6 creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
    created=1
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# The stamp records what was installed; if nothing changed, we are done.
want="$(cat pyproject.toml scripts/setup.sh scripts/student-jupyter.sh | sha256sum | cut -c1-16)"
want="$want $TORCH_SPEC $TORCH_INDEX extras=$COURSE_EXTRAS"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    say "already set up (delete $STAMP to redo it)"
    exit 0
fi
[ -n "${created:-}" ] || say "1/6 virtual environment $VENV exists"

# The installed torch's version, read from its metadata (not by importing it).
installed_torch() {
    "$PY" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true
}
have="$(installed_torch)"
wanted="${TORCH_SPEC%% *}"; wanted="${wanted#torch==}"
if [ -n "$have" ] && { [ "$wanted" = "$TORCH_SPEC" ] || [ "${have%%+*}" = "$wanted" ]; }; then
    say "2/6 PyTorch $have is installed"
else
    say "2/6 installing PyTorch ($TORCH_SPEC, CPU build)"
    args="$(torch_args "$PY")"  # a one-line note (stderr) when falling back
    [ ! -f "$VENV/constraints.txt" ] || : > "$VENV/constraints.txt"  # lift our old pin
    # shellcheck disable=SC2086  # the spec and options are words on purpose
    "${PIP[@]}" install "${PIP_VERBOSITY[@]}" $args
    have="$(installed_torch)"
fi

constraints="$(cd "$VENV" && pwd)/constraints.txt"
echo "torch==$have" > "$constraints"
# pip reads $VENV/pip.conf last: keep the constraint files set elsewhere, add ours.
others="$("${PIP[@]}" config list 2>/dev/null \
    | sed -n "s/^\(global\|install\)\.constraint='\(.*\)'$/\2/p" | tr ' ' '\n' \
    | grep -vxF -e "$constraints" -e '' | sort -u | tr '\n' ' ' || true)"
printf '# written by scripts/setup.sh: every pip install here keeps this torch\n[install]\nconstraint = %s%s\n' \
    "$others" "$constraints" > "$VENV/pip.conf"
say "3/6 torch==$have pinned ($VENV/constraints.txt, read by every pip install in $VENV)"

say "4/6 installing the course and its tools: pip install -e .$COURSE_EXTRAS"
"${PIP[@]}" install "${PIP_VERBOSITY[@]}" -c "$constraints" -e ".$COURSE_EXTRAS"

# Students never see formgrader or create-assignment; nbgrader's grading side is the
# instructor's tool. (The same is done for Binder in postBuild.)
say "5/6 making JupyterLab the student's (scripts/student-jupyter.sh)"
bash scripts/student-jupyter.sh "$VENV/bin/jupyter" --sys-prefix

build="$("$PY" -c 'import numpy, torch
print(torch.__version__, "(CPU build)" if torch.version.cuda is None
      else f"(CUDA {torch.version.cuda} build; it runs on the CPU too)")')"
say "6/6 done: torch $build"
echo "$want" > "$STAMP"
