"""Ingestion protocols: each maps its wire shape onto the event contract (``schema/``)."""
