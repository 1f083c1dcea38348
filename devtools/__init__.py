"""Developer tools: the local Climate Data Store used by tests and the offline demo."""
