"""What pricing a house means here: the model's features, and which model prices a request.

- ``features``: a listing's feature row, the trained domain, the feature matrix.
- ``split``: the sticky A/B split that sends a request to the prod or the candidate model.
"""
