"""Storage: the offline store, the warehouse catalog, the raw source, the IO manager."""
