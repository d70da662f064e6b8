"""The audit trail page for admins: filter and export who did what."""
