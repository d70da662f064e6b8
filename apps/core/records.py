"""What every record service shares: the refusal it raises and the LIKE pattern of a search."""


class RecordError(ValueError):
    """A change that breaks a rule: `status` 422 (invalid), 409 (duplicate) or 403 (not allowed)."""

    def __init__(self, message: str, fields: dict | None = None, status: int = 422):
        super().__init__(message)
        self.fields = fields or {}
        self.status = status


def like_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally anywhere (escape char: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
