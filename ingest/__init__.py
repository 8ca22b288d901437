"""Turning files into passages in the store: ``load`` (file -> Article), ``chunk`` (-> Passages), ``sync``."""
# ``qa/__init__`` imports ``qa.answer``, which imports ``ingest.chunk`` and ``ingest.load``. Initialising
# ``qa`` first means ``import ingest.load`` in a fresh interpreter never meets a half-initialised module.
import qa  # noqa: F401
