"""Show what a library says, the same way on every run: warnings as one plain line each.

A warning printed by Python carries the file and line that raised it (in a notebook, a
temporary file named after the kernel's process id), so it differs from run to run. Inside
:func:`warnings_as_text` each warning is printed instead as ``Category: message``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# PyTorch appends where in its C++ sources a warning came from, a path on the machine that built the wheel.
_BUILD_PATH = re.compile(r" \(Triggered internally at [^)]*\)")


@contextmanager
def warnings_as_text() -> Iterator[list[str]]:
    """Catch every warning raised inside the block and print each as ``Category: message``.

    The block's value is the list of those lines, so a cell can also assert on them.

    Example:
        >>> with warnings_as_text() as shown:
        ...     warnings.warn("size_average is deprecated", UserWarning)
        UserWarning: size_average is deprecated
        >>> shown
        ['UserWarning: size_average is deprecated']
        >>> with warnings_as_text():
        ...     warnings.warn("grad is None (Triggered internally at /build/TensorBody.h:494.)", UserWarning)
        UserWarning: grad is None
    """
    shown: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield shown
        finally:
            for warning in caught:
                message = _BUILD_PATH.sub("", str(warning.message))
                line = f"{warning.category.__name__}: {message}"
                shown.append(line)
                print(line)
