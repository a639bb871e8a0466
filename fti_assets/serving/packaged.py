"""The model a Bento was built around, and the airports it knows. The build rewrites this file
in the Bento's sources."""

PACKAGED_MODEL = "flight_delay_model:latest"
#: FAA code to (latitude, longitude): the stored airports table when the Bento was built (with
#: ``domain.routes.FALLBACK_COORDINATES``). Empty outside a Bento: requests' routes go unchecked.
PACKAGED_AIRPORTS: dict[str, tuple[float, float]] = {}
