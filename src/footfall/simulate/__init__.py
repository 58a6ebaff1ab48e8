"""``footfall simulate``: seeded synthetic traffic and the reports it must produce."""
