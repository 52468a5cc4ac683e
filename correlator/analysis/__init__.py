"""Journey analysis: what an assembled journey means, as opposed to how its spans link.

Pure functions over one journey as the read API returns it (``storage.reads.journey``: the
record, ``legs``, ``correlation`` and ``spans``):

- ``insights.py``: the rule catalogue that detects issues and notable events (docs/insights.md);
- ``summary.py``: the deterministic, offline summary; ``llm.py``: the optional summary written
  by an OpenAI-compatible model, with PII redacted first;
- ``facts.py``: the per-journey facts historical analytics aggregate.

Storage's analysis worker (``storage/analysis.py``) runs them whenever a commit changes a
journey and stores the results next to the journey.
"""
