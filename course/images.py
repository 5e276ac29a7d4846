"""Pictures in a notebook's outputs that carry alt text, the description a screen reader reads aloud."""

from __future__ import annotations

import base64
import html


def png_with_alt(png: bytes, alt: str, text: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A display bundle for a PNG that carries ``alt`` (not blank): in the PNG's metadata, and in an ``<img alt>`` twin.

    JupyterLab and nbconvert's classic template read the metadata; nbconvert's default (lab) HTML
    template ignores it, so an HTML ``<img>`` with the same picture and alt text comes along too.

    Example:
        >>> data, metadata = png_with_alt(b"\\x89PNG", "A dot.", "<Figure>")
        >>> sorted(data), metadata
        (['image/png', 'text/html', 'text/plain'], {'image/png': {'alt': 'A dot.'}})
    """
    if not isinstance(png, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"png should be the picture's bytes, e.g. buffer.getvalue() after fig.savefig(buffer, format='png'); got {type(png).__name__}."
        )
    for name, value, meaning in (("alt", alt, "one sentence saying what it shows"), ("text", text, "its summary")):
        if not isinstance(value, str):
            raise TypeError(f"{name} should be a string, {meaning}; got {type(value).__name__}.")
    if (head := bytes(png)[:8])[:4] != b"\x89PNG":  # what is sent as image/png: anything else shows as a broken picture
        raise ValueError(
            f"png should be a PNG picture's bytes, which start with b'\\x89PNG'; these start with {head!r}. "
            "Save the figure as PNG, fig.savefig(buffer, format='png')."
        )
    if not alt.strip():  # as show() refuses: a picture without a description says nothing to a screen reader
        raise ValueError("alt should be one sentence saying what the picture shows, for readers who cannot see it.")
    encoded = base64.b64encode(png).decode("ascii")
    tag = f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt, quote=True)}"/>'
    return {"image/png": encoded, "text/html": tag, "text/plain": text}, {"image/png": {"alt": alt}}


def shown(value: object) -> str:
    """How a label reads on a figure: ``str`` of it, without whitespace at its ends, each run inside as one space
    (``'a'``, ``'a '`` and ``' a'`` read the same)."""
    return " ".join(str(value).split())
