"""Data contracts: pandera schemas per table, row-level validation and PII scans.

These modules import pandera (about 2 s), so only asset bodies import them.
"""
