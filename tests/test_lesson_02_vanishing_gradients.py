"""Lesson 02_vanishing_gradients: the master earns every point; plausible mistakes lose them."""

import pytest

from tests.lesson_harness import LessonCells, standard_tests

pytestmark = pytest.mark.vanishing
LESSON = LessonCells("02_vanishing_gradients")
NORMS = "        name: p.grad.norm().item()"

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_layer_grad_norms",
        "norms of the weights, not of their gradients",
        [("layer_grad_norms", NORMS, "        name: p.norm().item()")],
    ),
    (
        "test_layer_grad_norms",
        "squared norm",
        [("layer_grad_norms", NORMS, "        name: (p.grad**2).sum().item()")],
    ),
    (
        "test_layer_grad_norms",
        "tensors instead of floats",
        [("layer_grad_norms", NORMS, "        name: p.grad.norm()")],
    ),
    (
        "test_layer_grad_norms",
        "biases included",
        [
            (
                "layer_grad_norms",
                'if name.endswith("weight") and p.grad is not None',
                "if p.grad is not None",
            )
        ],
    ),
    (
        "test_layer_grad_norms",
        "just calls coursekit's monitor",
        [
            (
                "layer_grad_norms",
                """    return {
        name: p.grad.norm().item()
        for name, p in model.named_parameters()
        if name.endswith("weight") and p.grad is not None
    }""",
                """    with monitor.GradientMonitor(model) as mon:
        mon.record()
    return {f"{k}.weight": v for k, v in mon.history.at_step("grad_norm").items()}""",
            )
        ],
    ),
    (
        "test_xavier_uniform",
        "fan_in only",
        [("xavier_uniform", "math.sqrt(6.0 / (fan_in + fan_out))", "math.sqrt(6.0 / fan_in)")],
    ),
    (
        "test_xavier_uniform",
        "transposed shape",
        [
            (
                "xavier_uniform",
                "torch.rand(fan_out, fan_in, generator=generator)",
                "torch.rand(fan_in, fan_out, generator=generator)",
            )
        ],
    ),
    (
        "test_xavier_uniform",
        "normal instead of uniform (same variance)",
        [
            (
                "xavier_uniform",
                "return (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * a",
                "return torch.randn(fan_out, fan_in, generator=generator) * a / math.sqrt(3)",
            )
        ],
    ),
    (
        "test_xavier_uniform",
        "ignores the generator",
        [
            (
                "xavier_uniform",
                "torch.rand(fan_out, fan_in, generator=generator)",
                "torch.rand(fan_out, fan_in)",
            )
        ],
    ),
    (
        "test_xavier_uniform",
        "calls torch.nn.init",
        [
            (
                "xavier_uniform",
                "return (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * a",
                "return nn.init.xavier_uniform_(torch.empty(fan_out, fan_in), generator=generator)",
            )
        ],
    ),
    (
        "test_he_normal",
        "std 2/fan_in instead of sqrt(2/fan_in)",
        [("he_normal", "math.sqrt(2.0 / fan_in)", "(2.0 / fan_in)")],
    ),
    (
        "test_he_normal",
        "fan_out instead of fan_in",
        [("he_normal", "math.sqrt(2.0 / fan_in)", "math.sqrt(2.0 / fan_out)")],
    ),
    (
        "test_he_normal",
        "uniform with He's variance",
        [
            (
                "he_normal",
                "torch.randn(fan_out, fan_in, generator=generator) * math.sqrt(2.0 / fan_in)",
                "(torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * math.sqrt(6.0 / fan_in)",
            )
        ],
    ),
    (
        "test_residual_block",
        "returns f(x) (no skip)",
        [
            (
                "residual_block",
                "return x + self.act(self.linear(x))",
                "return self.act(self.linear(x))",
            )
        ],
    ),
    (
        "test_residual_block",
        "no activation inside",
        [("residual_block", "return x + self.act(self.linear(x))", "return x + self.linear(x)")],
    ),
    (
        "test_residual_block",
        "activation after the sum",
        [
            (
                "residual_block",
                "return x + self.act(self.linear(x))",
                "return self.act(x + self.linear(x))",
            )
        ],
    ),
    (
        "test_residual_block",
        "forgets super().__init__()",
        [("residual_block", "        super().__init__()\n", "")],
    ),
    (
        "test_residual_block",
        "names its layer self.fc instead of self.linear",
        [
            (
                "residual_block",
                "self.linear = nn.Linear(width, width)",
                "self.fc = nn.Linear(width, width)",
            ),
            (
                "residual_block",
                "return x + self.act(self.linear(x))",
                "return x + self.act(self.fc(x))",
            ),
        ],
    ),
    (
        "test_distinct_rows",
        "counts columns instead of rows",
        [("distinct_rows", "for row in weight.detach():", "for row in weight.detach().T:")],
    ),
    (
        "test_distinct_rows",
        "exact equality instead of a tolerance",
        [
            (
                "distinct_rows",
                "(row - other).abs().max() > atol",
                "not torch.equal(row, other)",
            )
        ],
    ),
    (
        "test_distinct_rows",
        "compares each row with the first row only",
        [
            (
                "distinct_rows",
                """    distinct = []
    for row in weight.detach():
        if all((row - other).abs().max() > atol for other in distinct):
            distinct.append(row)
    return len(distinct)""",
                """    rows = weight.detach()
    return 1 + sum(int((row - rows[0]).abs().max() > atol) for row in rows[1:])""",
            )
        ],
    ),
    (
        "test_distinct_rows",
        "ignores atol (a fixed tolerance)",
        [("distinct_rows", "(row - other).abs().max() > atol", "(row - other).abs().max() > 1e-6")],
    ),
    (
        "test_distinct_rows",
        "returns a tensor",
        [("distinct_rows", "return len(distinct)", "return torch.tensor(len(distinct))")],
    ),
    (
        "test_answer_he_std",
        "Xavier's variance",
        [("answer_he_std", "math.sqrt(2 / 512)", "math.sqrt(2 / (512 + 128))")],
    ),
    (
        "test_answer_he_std",
        "the variance, not the standard deviation",
        [("answer_he_std", "math.sqrt(2 / 512)", "2 / 512")],
    ),
    (
        "test_answer_he_std",
        "no factor 2 for ReLU",
        [("answer_he_std", "math.sqrt(2 / 512)", "math.sqrt(1 / 512)")],
    ),
    (
        "test_answer_symmetry",
        "every gradient is 0",
        [("answer_symmetry", 'answer_symmetry = "c"', 'answer_symmetry = "d"')],
    ),
    (
        "test_answer_symmetry",
        "equal weights cannot move",
        [("answer_symmetry", 'answer_symmetry = "c"', 'answer_symmetry = "b"')],
    ),
    (
        "test_answer_ratio_bound",
        "20 factors instead of 19",
        [("answer_ratio_bound", "0.25**19", "0.25**20")],
    ),
    (
        "test_answer_ratio_bound",
        "the sigmoid's maximum instead of its derivative's",
        [("answer_ratio_bound", "0.25**19", "1.0**19")],
    ),
    ("test_answer_xavier", "He", [("answer_xavier", 'answer_xavier = "c"', 'answer_xavier = "b"')]),
    (
        "test_answer_xavier",
        "N(0, 1)",
        [("answer_xavier", 'answer_xavier = "c"', 'answer_xavier = "d"')],
    ),
    (
        "test_answer_residual",
        "removes the activation",
        [("answer_residual", 'answer_residual = "b"', 'answer_residual = "a"')],
    ),
    (
        "test_answer_residual",
        "normalises",
        [("answer_residual", 'answer_residual = "b"', 'answer_residual = "d"')],
    ),
]


FIXED_NAMES = [
    "def layer_grad_norms(model)",
    "def xavier_uniform(fan_in, fan_out, generator)",
    "def he_normal(fan_in, fan_out, generator)",
    "class ResidualBlock(nn.Module)",
    "def distinct_rows(weight, atol=1e-6)",
]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "norms of the weights, not of their gradients": "the L2 norm of p.grad, not of p itself",
    "squared norm": "not squared",
    "tensors instead of floats": "not a Python float (use .item())",
    "biases included": "(the weights only)",
    "just calls coursekit's monitor": "calls coursekit.monitor.GradientMonitor",
    "fan_in only": "2 / (fan_in + fan_out)",
    "transposed shape": "a transpose missing",
    "normal instead of uniform (same variance)": "uniform on [-a, a]",
    "ignores the generator": "must come from `generator`",
    "calls torch.nn.init": "calls torch.nn.init.xavier_uniform_",
    "std 2/fan_in instead of sqrt(2/fan_in)": "sqrt(2 / fan_in)",
    "fan_out instead of fan_in": "2 / fan_in",
    "uniform with He's variance": "a NORMAL distribution",
    "returns f(x) (no skip)": "x + act(linear(x))",
    "no activation inside": "x + act(linear(x))",
    "activation after the sum": "x + act(linear(x))",
    "forgets super().__init__()": "call super().__init__() first",
    "names its layer self.fc instead of self.linear": "needs self.linear = nn.Linear(5, 5)",
    "counts columns instead of rows": "a unit is a ROW of weight",
    "exact equality instead of a tolerance": "compare with a tolerance, not ==",
    "compares each row with the first row only": "not only with the first row",
    "ignores atol (a fixed tolerance)": "use the atol you are given",
    "returns a tensor": "must return a Python int",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


def test_calling_the_monitor_is_caught_by_the_hidden_check():
    edits = next(e for t, m, e in WRONG if m == "just calls coursekit's monitor")
    outcome = LESSON.run("test_layer_grad_norms", edits)
    assert "calls coursekit.monitor.GradientMonitor" in str(outcome.error), outcome.message
