"""Query stage: the HTTP APIs that read journeys back out of storage."""
