"""fti-assets."""
