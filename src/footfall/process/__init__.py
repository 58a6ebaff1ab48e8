"""The processor: decode queued raw events, run the named pipeline, sessionize, store."""
