"""The kernel zygote: graded kernels forked, already imported, into their jails.

``server`` (the zygote, run by path: it never imports the grader) and ``walls`` (the jail
built with system calls) run as root on the trusted side; ``client`` starts the zygote for
``autograder grade`` and asks it for each unit's kernel (``autograder.sandbox``).
"""
