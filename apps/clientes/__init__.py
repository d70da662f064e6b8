"""Business customers: list, create, edit, deactivate, CSV import."""
