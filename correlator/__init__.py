"""Correlator stage: links spans from different platforms into one journey.

Until it lands (issue #3), spans pass straight from the receivers to storage and a journey's
ID is its trace ID.
"""
