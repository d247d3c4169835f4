"""User-facing errors: shown as one line, without a traceback, with a non-zero exit."""


class UserError(Exception):
    """A problem with the user's input or environment (bad file, bad option, busy database)."""
