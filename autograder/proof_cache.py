"""Grading plans proven before: ``autograder validate`` proves a lesson's plan by running its
master twice (``autograder.plan_proof``); a proof holds for as long as nothing it ran on has
changed, so a plan proven once is not proven again.

A proof is kept, as a small JSON file, under a key of everything the two runs depended on:
the master and coursekit (code and data: ``autograder.site.master_fingerprint``), the
kernel side of ``autograder`` and the prover, Python's version and the versions of the
libraries the lessons run on. Only a proof that found nothing wrong is kept.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from autograder.keyed_cache import keep
from autograder.sandbox import kernel_package_files
from autograder.site import master_fingerprint

PACKAGE_DIR = Path(__file__).resolve().parent
#: what the runs of a proof import besides coursekit and the kernel side of autograder
LIBRARIES = ("torch", "numpy", "scipy", "scikit-learn", "matplotlib", "ipykernel", "nbclient")
PROVER = ("plan.py", "plan_proof.py", "proof_cache.py", "validate.py", "sandbox.py")


def proof_key(master: Path) -> str:
    """A digest of what proving the plan of ``master`` ran on (16 hex digits)."""
    digest = hashlib.sha256(master_fingerprint(master).encode())
    files = [*kernel_package_files(), *(PACKAGE_DIR / name for name in PROVER)]
    for path in sorted(p for p in files if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    versions = [f"python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    digest.update("\n".join(versions).encode())
    return digest.hexdigest()[:16]


def default_folder(course_root: Path) -> Path:
    """``build/plan-proofs`` beside the course folder (for this repository: the repo's)."""
    return course_root.resolve().parent / "build" / "plan-proofs"


@dataclass
class Proofs:
    """The proofs kept in ``folder``, for the master at ``master`` as it is when made (the
    key is taken once: a master edited during a run is not taken for the one proven)."""

    folder: Path
    master: Path
    reuse: bool = True  # False: prove again (and keep the new proof)

    def __post_init__(self) -> None:
        self.key = proof_key(self.master)

    def path(self, lesson: str) -> Path:
        return self.folder / f"{lesson}-{self.key}.json"

    def kept(self, lesson: str) -> dict | None:
        """The record kept for this master (what was proven, when), or None."""
        if not self.reuse:
            return None
        try:
            return json.loads(self.path(lesson).read_text())
        except (OSError, ValueError):
            return None

    def keep(self, lesson: str, record: dict) -> Path | None:
        """Keep ``record`` as the proof of this master; drop the lesson's older proofs.
        Nothing is kept (None) if what the key covers changed while the proof ran."""
        if proof_key(self.master) != self.key:
            return None
        text = json.dumps(record, indent=1)
        return keep(self.path(lesson), lambda partial: partial.write_text(text))
