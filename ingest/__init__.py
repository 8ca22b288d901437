"""Turning files into passages in the store: ``load`` (file -> Article), ``chunk`` (-> Passages), ``sync``."""
