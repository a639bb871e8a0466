"""The FTI feature pipeline: raw tables under contracts, and the feature groups of the offline store."""
