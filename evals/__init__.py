"""evals: how the project proves itself. Hand-written cases about the bundled articles, scored for retrieval,
key facts, refusals, disagreements between sources, citations and latency (``python -m evals``)."""
