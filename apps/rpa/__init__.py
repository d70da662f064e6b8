"""The RPA API: HTTP client and contract shapes, connection, global token, follower, runs, RQ jobs, throttle."""
