"""Model code: feature encoding, training, evaluation and promotion gates (pure functions)."""
