"""Monitoring: model performance on known outcomes, drift, shadow and skew, and the sensors
that call for retraining or a rollback."""
