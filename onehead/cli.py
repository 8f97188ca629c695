"""What every command shares: clear, non-zero exits on bad input and clean interrupts.

Each command module has its own `main()` wrapped in `user_errors`; this module imports
nothing but the exception classes, so a command pulls in only the code it runs.
"""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

from .errors import USER_ERRORS


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def user_errors(what: str):
    """Print `error: …` instead of a traceback for problems with the user's inputs; exit 2.

    SIGTERM is turned into KeyboardInterrupt so temporary files are cleaned up as on Ctrl-C;
    SIGINT is handled even when inherited as ignored (commands started in the background).
    """
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        print(f"{what}: interrupted; previous outputs left as they were", file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as err:
        if os.environ.get("ONEHEAD_TRACEBACK"):
            raise
        print(f"{what}: error: {err}", file=sys.stderr)
        sys.exit(2)
