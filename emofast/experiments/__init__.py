"""Reproductions of the papers' experiment shapes (import the submodule you need, e.g.
``emofast.experiments.pathnet``); nothing heavy is imported here."""
