"""Deployment: the champion and challenger in the registry, the promotion policy, the Bento."""
