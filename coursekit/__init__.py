"""coursekit: the shared library of the Gradient Flow course.

Lessons import it once and call it module-qualified::

    import coursekit
    from coursekit import checks, data, glossary, gradcheck, models, monitor, plots, train, widgets

Importing coursekit sizes torch's thread pool to the CPUs this process may
really use (a container's quota, not the host's core count).
"""

from coursekit import checks, data, glossary, gradcheck, models, monitor, plots, train, widgets
from coursekit.diagnosis import Diagnosis, diagnose
from coursekit.runtime import available_cpus, configure_threads, seed_everything

__version__ = "0.1.0"
__all__ = [
    "Diagnosis",
    "available_cpus",
    "checks",
    "configure_threads",
    "data",
    "diagnose",
    "glossary",
    "gradcheck",
    "models",
    "monitor",
    "plots",
    "seed_everything",
    "train",
    "widgets",
]

configure_threads()
