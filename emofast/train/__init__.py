"""Training loops of emofast: import the submodule you need (``emofast.train.evolve``,
``emofast.train.fit``, ...); nothing heavy is imported here."""
