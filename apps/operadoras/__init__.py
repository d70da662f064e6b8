"""Telecom operators: list, create, edit, deactivate."""
