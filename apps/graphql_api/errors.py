"""The errors a GraphQL caller may read; every other exception is masked (no internals leak)."""


class Refused(Exception):
    """A refusal worth explaining (no permission, a bad cursor, `first` out of range): shown as is."""
