"""Pure transforms: polars frames in, polars frames out, no I/O."""
