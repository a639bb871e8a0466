"""The service's request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FlightRequest(BaseModel):
    """A scheduled flight, as known two hours before departure."""

    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", examples=["UA"])
    flight: int = Field(ge=1, le=9999, examples=[1545])
    tailnum: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,7}$", examples=["N14228"])
    origin: str = Field(pattern=r"^[A-Z0-9]{3,4}$", examples=["EWR"])
    dest: str = Field(pattern=r"^[A-Z0-9]{3,4}$", examples=["IAH"])
    scheduled_departure: datetime = Field(examples=["2013-06-01T05:15:00-04:00"])
    scheduled_arrival: datetime = Field(examples=["2013-06-01T08:19:00-05:00"])
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
    past_flight: bool = Field(default=False, description="The flight's prediction time (two hours before departure) is earlier than "
                              "`features_as_of`: it was scored with features learnt after that time, not with what was known then.")
    features: dict[str, float | str | None] | None = None
