"""The FTI inference pipeline: batch predictions, the online store refresh, and the service."""
