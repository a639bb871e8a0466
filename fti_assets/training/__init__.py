"""The FTI training pipeline: the point-in-time training dataset, the LightGBM model, its
evaluation, model card and hyperparameter search."""
