"""Hidden checks, called from the hidden region of each lesson's test cells.

The student's feedback shows the call (``hidden.linear_backward(linear_backward)``),
never the logic or an answer. Every check compares against an oracle that is not
the solution: PyTorch autograd, numerical gradients, properties, distributions.
A failed check raises ``coursekit.checks.CheckFailed`` with a message that says
what is wrong.
"""
