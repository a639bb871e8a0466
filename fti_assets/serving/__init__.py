"""Online inference: the online feature store, the predictor and the BentoML service."""
