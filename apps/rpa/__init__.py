"""The RPA API: HTTP client, RQ jobs, the global token page."""
