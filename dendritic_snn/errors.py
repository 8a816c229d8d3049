"""The one exception type the CLI turns into a one-line message and exit code 2."""


class DsnnError(ValueError):
    """Bad user input (profile, task spec, flag, data directory); the message is one line."""
