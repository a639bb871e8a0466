"""The model a Bento was built around. The build rewrites this file in the Bento's sources."""

PACKAGED_MODEL = "flight_delay_model:latest"
