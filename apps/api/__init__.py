"""JSON API v1 (Bearer JWT) and the seed's /api/v2/logs-tempo-real routes."""
