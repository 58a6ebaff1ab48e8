"""The gateway layer: who is calling, may they, and how much."""
