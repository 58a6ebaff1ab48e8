"""The read path: GA4 Data API-shaped requests, validated against a catalog, run by a store."""
