"""footfall: self-hostable web and app analytics."""

__version__ = "0.1.0"
