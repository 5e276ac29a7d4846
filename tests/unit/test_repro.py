import random

import numpy as np
import pytest
import torch

from course.repro import seed_everything


def draw(generator):
    return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item()


def test_same_seed_same_numbers_everywhere():
    assert draw(seed_everything(7)) == draw(seed_everything(7))


def test_different_seeds_differ():
    assert draw(seed_everything(7)) != draw(seed_everything(8))


def test_returns_a_generator_for_loaders():
    generator = seed_everything(3)
    assert isinstance(generator, torch.Generator) and generator.initial_seed() == 3


@pytest.mark.parametrize("seed", [1.5, "42", None, True])
def test_rejects_non_integer_seeds(seed):
    with pytest.raises(TypeError, match="integer seed"):
        seed_everything(seed)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_rejects_out_of_range_seeds(seed):
    with pytest.raises(ValueError, match="between 0 and 2\\*\\*32 - 1"):
        seed_everything(seed)
