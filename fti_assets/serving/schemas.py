"""The service's request and response bodies, and what its OpenAPI document says about them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The README's flight: the example Swagger's "Try it out" sends.
EXAMPLE_FLIGHT = {
    "carrier": "UA", "flight": 1545, "tailnum": "N14228", "origin": "EWR", "dest": "IAH",
    "scheduled_departure": "2014-01-02T05:15:00-05:00", "scheduled_arrival": "2014-01-02T08:19:00-06:00", "distance": 1400,
}  # fmt: skip

SERVICE_DESCRIPTION = """\
Probability that a scheduled flight from New York (JFK, LGA, EWR) arrives more than 15 minutes
late, scored by the champion model of fti-assets with the online store's features.

`POST /predict` takes `flights` (1 to 1000 scheduled flights, times in ISO 8601 with a UTC
offset) and answers, per flight, `delay_probability`, the `model_version` that scored it,
`features_as_of` (the online store's refresh time) and `unknown` (feature groups that had no
row and took their documented defaults). `include_features: true` adds the vector used.
A malformed request gets a 400 naming the field and the reason.
"""


class FlightRequest(BaseModel):
    """A scheduled flight, as known two hours before departure."""

    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", examples=["UA"])
    flight: int = Field(ge=1, le=9999, examples=[1545])
    tailnum: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,7}$", examples=["N14228"])
    origin: str = Field(pattern=r"^[A-Z0-9]{3,4}$", examples=["EWR"])
    dest: str = Field(pattern=r"^[A-Z0-9]{3,4}$", examples=["IAH"])
    scheduled_departure: datetime = Field(examples=[EXAMPLE_FLIGHT["scheduled_departure"]])
    scheduled_arrival: datetime = Field(examples=[EXAMPLE_FLIGHT["scheduled_arrival"]])
    distance: float = Field(gt=0, le=10_000, examples=[1400])

    @field_validator("scheduled_departure", "scheduled_arrival")
    @classmethod
    def _needs_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be ISO 8601 with a UTC offset, such as 2013-06-01T05:15:00-04:00")
        return value


class FlightPrediction(BaseModel):
    flight_id: str
    delay_probability: float
    model_version: str
    features_as_of: str | None
    unknown: list[str] = Field(default_factory=list, description="Feature groups with no row for this flight: documented defaults were used.")
    features: dict[str, float | str | None] | None = None


class PredictRequest(BaseModel):
    """The body of ``POST /predict``: the API's parameters, with the README's flight as example."""

    model_config = ConfigDict(json_schema_extra={"example": {"flights": [EXAMPLE_FLIGHT], "include_features": False}})

    flights: list[FlightRequest] = Field(description="1 to 1000 scheduled flights.")
    include_features: bool = Field(default=False, description="Also return the feature vector used for each flight.")
