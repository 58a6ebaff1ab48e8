"""Tenancy: accounts own properties; properties have data streams; keys and secrets get in."""
