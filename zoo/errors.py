"""The one error type the CLI turns into a single line instead of a traceback."""


class ZooError(Exception):
    """A problem with what the user asked for: an unknown name, missing data, a bad value.

    The message must name the bad value and say what was expected; the CLI prints
    it as ``zoo: error: <message>`` and exits with status 2.
    """
