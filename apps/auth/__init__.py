"""Login, logout and user management (/usuarios)."""
