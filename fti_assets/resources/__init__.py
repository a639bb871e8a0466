"""Resources, in one place: the offline store, the raw source, the IO managers, the model registry,
the online store, the change lock and the rest. ``environment.build_resources`` picks them for
an environment."""
