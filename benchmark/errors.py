"""One exception type for everything a user can fix.

The CLI turns a BenchError into a single line on stderr and exit status 2; any other
exception is a bug in the harness and keeps its traceback.
"""


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2
