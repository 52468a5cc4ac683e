"""One module per platform, each exposing ``ADAPTER`` (a ``registry.Adapter``)."""
