"""The training pipeline's definitions: dataset, model, evaluation, card, search."""

import dagster as dg

from fti_assets.training.hyperparameter_search import hyperparameter_search
from fti_assets.training.model_card import model_card
from fti_assets.training.model_evaluation import model_evaluation
from fti_assets.training.trained_model import trained_model
from fti_assets.training.training_dataset import training_dataset

defs = dg.Definitions(
    assets=[training_dataset, trained_model, model_evaluation, model_card, hyperparameter_search]
)
