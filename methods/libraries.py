"""Quieting the libraries methods are built on, apart from any one use of them.

Kept below `interface` and `diffusion` (which both use it), so neither imports the other for it.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def quiet_libraries():
    """Silence diffusers' and transformers' info/warning logs around a call known to be noisy but fine."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    levels = diffusers_logging.get_verbosity(), transformers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(levels[0])
        transformers_logging.set_verbosity(levels[1])
