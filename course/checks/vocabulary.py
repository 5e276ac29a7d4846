"""One vocabulary of mistake ids for every exercise, each with the message a learner reads: the same mistake has
the same id and explanation in every lesson. A check may give a more specific message for its own exercise, but
never a new id for an old mistake. ``{got}`` and ``{expected}`` in a message are filled in by the engine.

The messages are data, in ``mistakes.toml`` next to this module: ``[mistakes]`` holds every id in lesson order (a
comment names the lesson at its first id), ``[specific]`` the engine's more specific messages for a few of them."""

from __future__ import annotations

import tomllib
from pathlib import Path

_DATA = tomllib.loads(Path(__file__).with_name("mistakes.toml").read_text(encoding="utf-8"))
MISTAKES: dict[str, str] = _DATA["mistakes"]

# where the engine found the cause of an id, it says so
DATA_CHANGED: str = _DATA["specific"]["data_changed"]  # mutated_input, a training answer
MODEL_CHANGED: str = _DATA["specific"]["model_changed"]  # mutated_input, a model
LAYERS_ONLY: str = _DATA["specific"]["layers_only"]  # no_eval, no_train: the layers' modes set one by one
GRADIENT_ZEROED: str = _DATA["specific"]["gradient_zeroed"]  # partly_detached, 0 where the gradient differs
SAVED_TENSOR_CHANGED: str = _DATA["specific"]["saved_tensor_changed"]  # backward_fails, in place
