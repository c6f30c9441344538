"""A file posted by a form (org import, holiday notice) saved where the file readers, which
take a path, can read it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def saved_upload(form: dict[str, Any], suffixes: tuple[str, ...]) -> Iterator[Path | None]:
    """The form's `file` in a temporary folder, or None when it is missing or not one of
    `suffixes` (the reader is chosen by the suffix)."""
    file = form.get("file")
    suffix = Path(getattr(file, "filename", "") or "").suffix.lower()
    if not hasattr(file, "file") or suffix not in suffixes:
        yield None
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(file.file.read())
        yield path
