"""Receivers stage: where spans enter journeytrace.

``otlp_grpc`` and ``otlp_http`` are thin transport shells around one ``export()`` function
(``otlp``), which decodes a request, hands the valid spans to the next stage and reports the
rest as a partial success.
"""
