"""Monitoring: model performance on known outcomes, drift, and the rules that call for retraining."""
