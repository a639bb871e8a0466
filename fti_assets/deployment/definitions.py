"""Deployment's definitions: the champion, the challenger, the Bento."""

import dagster as dg

from fti_assets.deployment.challenger import challenger_model
from fti_assets.deployment.champion import champion_model
from fti_assets.deployment.packaging import flight_delay_bento

defs = dg.Definitions(assets=[champion_model, flight_delay_bento, challenger_model])
