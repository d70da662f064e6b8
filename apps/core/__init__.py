"""Pieces shared by every domain: column types, mixins, redis, audit, pagination."""
