"""The home dashboard and admin operations pages."""
