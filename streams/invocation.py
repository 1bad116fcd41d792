"""How to run this program again from the user's shell, for the commands a message suggests.

``make demo`` runs ``.venv/bin/ccpulse``, which is not on ``PATH`` until the virtual
environment is activated: a hint that says ``ccpulse demo --stop`` would then fail with
"command not found". So a hint names the program the way it was started, unless the name
``ccpulse`` on ``PATH`` is that very program: every ``Error:`` line the command line prints
passes through :func:`as_run_here`, and the demo's banner uses :func:`program`.
"""

from __future__ import annotations

import os
import shutil
import sys

NAME = "ccpulse"


def program(argv0: str | None = None, search_path: str | None = None) -> str:
    """``ccpulse`` when ``argv0`` (default ``sys.argv[0]``) is not a ``ccpulse`` script (``python
    -m streams.cli``) or is the one ``PATH`` (``search_path``) finds; else its path, relative
    to the working directory when it lies below it (``.venv/bin/ccpulse``)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(argv0) != NAME:
        return NAME
    found = shutil.which(NAME, path=search_path)
    if found is not None and os.path.realpath(found) == os.path.realpath(argv0):
        return NAME
    relative = os.path.relpath(argv0)
    return relative if not relative.startswith("..") else os.path.abspath(argv0)


def as_run_here(text: str) -> str:
    """``text`` with each suggested command ```ccpulse …``` naming the program as
    :func:`program` does."""
    name = program()
    return text if name == NAME else text.replace(f"`{NAME} ", f"`{name} ")
