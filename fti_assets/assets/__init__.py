"""Assets: thin wrappers that call pure transforms and describe their results for the UI."""
