"""What ``diagnose`` returns: ``Finding`` (one named problem with its evidence) and
``Diagnosis`` (the findings of one run, most severe first)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

#: The kinds of problem ``diagnose`` names, most severe first (a cause before its symptoms:
#: dead or saturated units make gradients vanish; a learning rate that kills ReLUs is too high).
KINDS = (
    "exploding",
    "dead_relu",
    "saturation",
    "vanishing",
    "lr_too_high",
    "lr_too_low",
    "overfitting",
)
HEALTHY = "healthy"

#: kind -> (what it is, the fix to try, the lesson that teaches it)
ABOUT: dict[str, tuple[str, str, str]] = {
    "exploding": (
        "exploding gradients",
        "clip the gradient norm (fit(..., clip_norm=1.0)), initialise smaller (Xavier/He), "
        "lower the learning rate",
        "03_exploding_gradients",
    ),
    "dead_relu": (
        "dead ReLUs",
        "lower the learning rate, initialise with He, or use Leaky ReLU",
        "04_dead_relu",
    ),
    "saturation": (
        "saturated activations",
        "initialise smaller (Xavier for tanh/sigmoid), normalise (batch norm), or use ReLU",
        "02_vanishing_gradients",
    ),
    "vanishing": (
        "vanishing gradients",
        "ReLU with He initialisation, residual connections, or batch norm",
        "02_vanishing_gradients",
    ),
    "lr_too_high": (
        "learning rate too high",
        "lower the learning rate (3 to 10 times)",
        "04_dead_relu",
    ),
    "lr_too_low": (
        "learning rate too low",
        "raise the learning rate until update:data is about 1e-3 per step",
        "02_vanishing_gradients",
    ),
    "overfitting": (
        "overfitting",
        "dropout, weight decay or early stopping; more training data",
        "05_dropout",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One problem found in a run.

    - kind: one of ``KINDS``.
    - layers: the layers affected (names as in the monitor's history), input side first.
    - step: the recorded step from which the problem shows (None if not per step);
      epoch: the epoch (1-based) from which it shows, where it is seen per epoch.
    - evidence: the numbers that show it, as a sentence; numbers: the same as values.
    - fix: what to try; lesson: the lesson that teaches it.
    """

    kind: str
    layers: tuple[str, ...]
    step: int | None
    epoch: int | None
    evidence: str
    numbers: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def title(self) -> str:
        return ABOUT[self.kind][0]

    @property
    def fix(self) -> str:
        return ABOUT[self.kind][1]

    @property
    def lesson(self) -> str:
        return ABOUT[self.kind][2]

    @property
    def when(self) -> str:
        """'from step 12', 'from epoch 3', or '' when not known."""
        if self.step is not None:
            return f"from step {self.step}"
        return f"from epoch {self.epoch}" if self.epoch is not None else ""

    def _where(self) -> str:
        if not self.layers:
            return ""
        shown = ", ".join(self.layers[:4]) + (", ..." if len(self.layers) > 4 else "")
        return f"{len(self.layers)} layer{'s' * (len(self.layers) > 1)} ({shown})"

    def __str__(self) -> str:
        head = f"{self.kind}: {self.title}"
        details = ", ".join(part for part in (self._where(), self.when) if part)
        head += f" [{details}]" if details else ""
        return f"{head}\n    evidence: {self.evidence}\n    try: {self.fix} (lesson {self.lesson})"


class Diagnosis:
    """The findings of one run, most severe first as given (``findings``), and the verdict ``top``:
    the first finding's kind, or ``"healthy"`` when nothing was found.

    ``steps`` is the number of recorded steps looked at. Iterable over its findings.
    """

    def __init__(self, findings: list[Finding], steps: int, run: object = None):
        self.findings: list[Finding] = list(findings)
        self.steps = steps
        self._run = run  # the numbers looked at, for plots.diagnosis

    @property
    def top(self) -> str:
        return self.findings[0].kind if self.findings else HEALTHY

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]

    @property
    def healthy(self) -> bool:
        return not self.findings

    def __getitem__(self, kind: str) -> Finding:
        """The finding of ``kind`` (KeyError if there is none)."""
        for finding in self.findings:
            if finding.kind == kind:
                return finding
        raise KeyError(f"no {kind!r} finding; found: {self.kinds or 'nothing'}")

    def __contains__(self, kind: object) -> bool:
        return kind in self.kinds

    def __iter__(self):
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __repr__(self) -> str:
        head = f"Diagnosis: {self.top} ({self.steps} recorded steps looked at)"
        if not self.findings:
            return head + "\n  nothing wrong found: gradients, units and learning rate look healthy"
        return head + "".join(f"\n{i}. {f}" for i, f in enumerate(self.findings, 1))

    def _repr_html_(self) -> str:
        e = html.escape
        head = f"<b>Diagnosis: {e(self.top)}</b> ({self.steps} recorded steps looked at)"
        if not self.findings:
            return f"<div>{head}<br>nothing wrong found</div>"
        rows = "".join(
            f"<tr><td><b>{e(f.kind)}</b></td><td>{e(f._where())}</td><td>{e(f.when)}</td>"
            f"<td>{e(f.evidence)}</td><td>{e(f.fix)} (lesson {e(f.lesson)})</td></tr>"
            for f in self.findings
        )
        header = "".join(
            f"<th>{h}</th>" for h in ("kind", "layers", "since", "evidence", "fix to try")
        )
        return f"<div>{head}<table><tr>{header}</tr>{rows}</table></div>"
