"""Reproducibility: seed every random number generator at once, and save and restore their states.

- :func:`seed_everything` seeds Python, NumPy and torch and returns a generator for loaders;
- :func:`rng_state` / :func:`set_rng_state` read and write the state of all of them as plain data
  (what a checkpoint stores);
- :func:`preserved_rng` runs a block and then puts every generator back, so code inside (an
  exercise check, say) cannot shift the random numbers a lesson draws afterwards.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

RngState = dict[str, Any]


def check_seed(seed: object) -> int:
    """Return ``seed`` as an ``int`` if it is a valid seed (an integer from 0 to 2**32 - 1); else a clear error.

    Example:
        >>> check_seed(-1)
        Traceback (most recent call last):
        ValueError: seed must be between 0 and 2**32 - 1, got -1. Pick a small non-negative integer such as 42.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"expected an integer seed, got {type(seed).__name__} ({seed!r}); pick one such as 42.")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(
            f"seed must be between 0 and 2**32 - 1, got {seed}. Pick a small non-negative integer such as 42."
        )
    return int(seed)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (and any accelerator); return a seeded ``torch.Generator``.

    Pass the returned generator to ``DataLoader(generator=...)`` or ``random_split`` so
    shuffling and splitting are reproducible too.

    Example:
        >>> first = torch.rand(2, generator=seed_everything(42))
        >>> again = torch.rand(2, generator=seed_everything(42))
        >>> torch.equal(first, again)
        True
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _cuda_in_use() -> bool:
    """True once CUDA is initialised: reading its state earlier would start CUDA just to read a seed."""
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def _mps_in_use() -> bool:
    """True on a Mac whose GPU torch can use (Apple's MPS): its generator is one more to save and restore."""
    return torch.backends.mps.is_available()


def rng_state(generator: torch.Generator | None = None) -> RngState:
    """The state of every global random number generator, and of ``generator`` if given, as plain data.

    Covers torch (CPU, CUDA once it is in use, and MPS on a Mac), NumPy's global generator and Python's
    ``random``. The result holds only tensors, numbers, strings and lists, so a checkpoint
    holding it loads with ``torch.load(..., weights_only=True)``.

    Example:
        >>> state = rng_state()
        >>> first = (torch.rand(2), np.random.rand(), random.random())
        >>> set_rng_state(state)
        >>> again = (torch.rand(2), np.random.rand(), random.random())
        >>> torch.equal(first[0], again[0]) and first[1:] == again[1:]
        True
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator should be a torch.Generator (or None), got {type(generator).__name__}.")
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if _cuda_in_use() else [],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(internal), "gauss": gauss},
        "generator": generator.get_state() if generator is not None else None,
        **({"mps": torch.mps.get_rng_state()} if _mps_in_use() else {}),  # only on a Mac that has it
    }


def _torch_setter(state: object, scratch: torch.Generator) -> Callable[[], None]:
    scratch.set_state(state)  # raises on a tensor of the wrong kind or size, before anything changes
    return lambda: torch.set_rng_state(state)


@functools.cache
def _scratch() -> tuple[np.random.RandomState, random.Random]:
    """Private generators to try a state on before the global ones get it (made once: seeding them is slow)."""
    return np.random.RandomState(0), random.Random(0)


def _integers(values: object, count: int, top: int) -> bool:
    """Whether ``values`` is a list, tuple or integer tensor of ``count`` integers from 0 to ``top``."""
    if isinstance(values, torch.Tensor):
        if values.dtype.is_floating_point or values.dtype.is_complex or values.dtype == torch.bool:
            return False
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or len(values) != count:
        return False
    return all(type(v) is int and 0 <= v <= top for v in values)


def _degenerate(keys: list[int]) -> bool:
    """Whether a Mersenne Twister state of 624 ``keys`` is the one it cannot leave: every bit that counts (all but the
    first key's lower 31) zero, so it returns 0 forever. Seeding never makes it; torch refuses it."""
    return keys[0] < 2**31 and not any(keys[1:])


_ZERO = "are all zero, a state the Mersenne Twister never leaves (it would return 0 forever)"


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _numpy_setter(n: Mapping[str, Any]) -> Callable[[], None]:
    """NumPy's own set_state takes a position out of range or keys it wraps around: checked here (a segfault later)."""
    if not isinstance(n["keys"], torch.Tensor) or not _integers(n["keys"], 624, 2**32 - 1):
        raise ValueError("its keys should be a tensor of 624 integers from 0 to 2**32 - 1")
    if _degenerate(n["keys"].tolist()):
        raise ValueError(f"its keys {_ZERO}")
    if type(n["pos"]) is not int or not 0 <= n["pos"] <= 624:
        raise ValueError(f"its pos should be an integer from 0 to 624, got {n['pos']!r}")
    if n["has_gauss"] not in (0, 1) or not _finite(n["cached_gaussian"]):
        raise ValueError(f"its has_gauss should be 0 or 1 and its cached_gaussian a finite float, got "
                         f"{n['has_gauss']!r} and {n['cached_gaussian']!r}")  # fmt: skip
    native = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], int(n["has_gauss"]), n["cached_gaussian"])
    _scratch()[0].set_state(native)
    return lambda: np.random.set_state(native)


def _python_setter(p: Mapping[str, Any]) -> Callable[[], None]:
    """Python's setstate truncates numbers past 2**32 and takes any gauss: checked here."""
    internal = p["state"]
    if type(p["version"]) is not int or not _integers(internal, 625, 2**32 - 1) or internal[-1] > 624:
        raise ValueError("its version should be an integer and its state 625 integers from 0 to 2**32 - 1 (the last, "
                         "a position, at most 624)")  # fmt: skip
    if _degenerate([int(v) for v in internal[:624]]):
        raise ValueError(f"its state's 624 keys {_ZERO}")
    if p["gauss"] is not None and not (isinstance(p["gauss"], float) and _finite(p["gauss"])):
        raise ValueError(f"its gauss should be None or a finite float, got {p['gauss']!r}")
    native = (p["version"], tuple(internal), p["gauss"])
    _scratch()[1].setstate(native)
    return lambda: random.setstate(native)


def _cuda_setter(states: list) -> Callable[[], None]:
    if not isinstance(states, list) or not all(isinstance(s, torch.Tensor) for s in states):
        raise TypeError(f"expected a list of tensors, got {type(states).__name__}")
    usable = states[: torch.cuda.device_count()] if torch.cuda.is_available() else []

    def set_cuda() -> None:
        for index, cuda_state in enumerate(usable):
            torch.cuda.set_rng_state(cuda_state, index)

    return set_cuda


def _mps_setter(state: object) -> Callable[[], None]:
    """Saved without MPS (no such part) or restored without it: nothing to set."""
    if state is None or not _mps_in_use():
        return lambda: None
    before = torch.mps.get_rng_state()
    torch.mps.set_rng_state(state)  # no scratch MPS generator to try it on: try it, then put the state back
    torch.mps.set_rng_state(before)
    return lambda: torch.mps.set_rng_state(state)


class _OtherDevice(ValueError):
    """A generator state of another device's size: its own fix, not "pass the dict unchanged"."""


def _generator_setter(state: object, generator: torch.Generator) -> Callable[[], None]:
    if state is None:
        raise ValueError(
            "you passed a generator to restore, but the saved state holds none. "
            "Save it with save_checkpoint(..., generator=the_loaders_generator)"
        )
    scratch = torch.Generator(device=generator.device)
    size = scratch.get_state().numel()
    if isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.numel() != size:
        raise _OtherDevice(
            f"the generator state was saved from a generator on another device: it is {state.numel()} bytes, but a "
            f"{generator.device.type} generator's is {size} (CUDA's is 16, the CPU's 5056). Pass a generator of that "
            "device, e.g. generator=torch.Generator(device='cuda'), or none"
        )
    scratch.set_state(state)
    return lambda: generator.set_state(state)


def _setters(state: object, generator: torch.Generator | None) -> list[Callable[[], None]]:
    """Build (and try on scratch generators) one setter per part, so a bad state changes nothing."""
    if not isinstance(state, Mapping):
        raise ValueError(f"a random state should be the dict rng_state() returns, got {type(state).__name__}.")
    parts: list[tuple[str, Callable[[], Callable[[], None]]]] = [
        ("torch", lambda: _torch_setter(state["torch"], torch.Generator())),
        ("cuda", lambda: _cuda_setter(state["cuda"])),
        ("mps", lambda: _mps_setter(state.get("mps"))),
        ("numpy", lambda: _numpy_setter(state["numpy"])),
        ("python", lambda: _python_setter(state["python"])),
    ]
    if generator is not None:
        parts.append(("generator", lambda: _generator_setter(state.get("generator"), generator)))
    setters = []
    for name, build in parts:
        try:
            setters.append(build())
        except _OtherDevice as exc:
            raise ValueError(f"the saved random state does not fit: {exc}.") from None
        except Exception as exc:  # tried on scratch generators only, so whatever a bad part raises changes nothing
            raise ValueError(
                f"the saved random state does not fit: its '{name}' part is unusable ({exc}). "
                "Pass the dict rng_state() returned, unchanged."
            ) from None
    return setters


def set_rng_state(state: RngState, generator: torch.Generator | None = None) -> None:
    """Restore the states :func:`rng_state` returned (and ``generator``'s, if given): all or nothing.

    Every part is checked before any generator changes, so a damaged or incomplete state raises
    a ``ValueError`` naming the part and leaves every generator as it was.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> state = rng_state(g)
        >>> first = torch.rand(3, generator=g)
        >>> set_rng_state(state, g)
        >>> torch.equal(first, torch.rand(3, generator=g))
        True
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator should be a torch.Generator (or None), got {type(generator).__name__}.")
    for setter in _setters(state, generator):
        setter()


@contextmanager
def preserved_rng(generator: torch.Generator | None = None) -> Iterator[None]:
    """Run the block, then put every random number generator (and ``generator``) back as it was.

    Random numbers drawn inside the block do not shift those drawn after it, even if the block
    raises. (The states stay in memory as the libraries give them: cheaper than :func:`rng_state`.)

    Example:
        >>> _ = torch.manual_seed(0)
        >>> with preserved_rng():
        ...     _ = torch.rand(1000), np.random.rand(5), random.random()
        >>> after = torch.rand(2)
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(after, torch.rand(2))
        True
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator should be a torch.Generator (or None), got {type(generator).__name__}.")
    cuda = torch.cuda.get_rng_state_all() if _cuda_in_use() else None
    mps = torch.mps.get_rng_state() if _mps_in_use() else None
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    own = generator.get_state() if generator is not None else None
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if mps is not None:
            torch.mps.set_rng_state(mps)
        if generator is not None:
            generator.set_state(own)
