import random

import numpy as np
import pytest
import torch

from course.repro import preserved_rng, rng_state, seed_everything, set_rng_state


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


# ----------------------------------------------------------------------------- saving and restoring random state


def test_rng_state_round_trip_restores_every_generator_and_survives_weights_only(tmp_path):
    generator = torch.Generator().manual_seed(3)
    seed_everything(1)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    torch.save(rng_state(generator), tmp_path / "rng.pt")
    first = draw(generator), np.random.randn(2).tolist()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), generator)
    assert (draw(generator), np.random.randn(2).tolist()) == first


@pytest.mark.parametrize(
    ("damage", "part"),
    [
        (lambda s: s.pop("numpy"), "numpy"),
        (lambda s: s.update(torch=torch.zeros(3, dtype=torch.uint8)), "torch"),
        (lambda s: s["python"].update(state=[1, 2, 3]), "python"),
        (lambda s: s.update(generator=None), "generator"),
        (lambda s: s.update(cuda="not a list"), "cuda"),
    ],
)
def test_a_damaged_state_changes_no_generator(damage, part):
    generator = torch.Generator().manual_seed(5)
    state = rng_state(generator)
    damage(state)
    seed_everything(2)
    before = rng_state(generator)
    with pytest.raises(ValueError, match=rf"the saved random state does not fit: its '{part}' part is unusable"):
        set_rng_state(state, generator)
    after = rng_state(generator)
    assert torch.equal(after["torch"], before["torch"]) and torch.equal(after["generator"], before["generator"])
    assert after["python"] == before["python"] and torch.equal(after["numpy"]["keys"], before["numpy"]["keys"])


def test_set_rng_state_rejects_what_is_not_a_state():
    with pytest.raises(ValueError, match="should be the dict rng_state\\(\\) returns, got list"):
        set_rng_state([1, 2, 3])
    with pytest.raises(TypeError, match="generator should be a torch.Generator"):
        rng_state(generator=42)


def test_preserved_rng_undoes_draws_even_when_the_block_raises():
    generator = torch.Generator().manual_seed(9)
    seed_everything(4)
    expected = draw(generator)
    seed_everything(4)
    generator.manual_seed(9)
    with pytest.raises(ZeroDivisionError), preserved_rng(generator):
        draw(generator), torch.rand(100), 1 / 0
    assert draw(generator) == expected
