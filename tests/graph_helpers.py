"""What the graph tests share: seeded weights and the gradient check they use."""
import os

import pytest

import nncore

EPSILON = float(os.environ.get("NNCORE_TEST_EPS", "1e-3"))


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same weights (the gradient checks depend on them); NNCORE_TEST_SEED picks another
    seed to check that the tests do not depend on this one."""
    nncore.set_random_seed(int(os.environ.get("NNCORE_TEST_SEED", "1234")))


def gradient_errors(model, x, y):
    """nncore.gradient_check (steps of 1e-3) on the test's seeded weights. The floor of 1e-2 keeps the float32
    rounding of these small models' losses (about 3e-5 in a finite difference) from dominating the relative error
    of gradients near 1e-3; a wrong gradient is still off by its own size."""
    return nncore.gradient_check(model, x, y, epsilon=EPSILON, floor=1e-2)
