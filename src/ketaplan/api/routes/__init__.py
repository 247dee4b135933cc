"""The API's routes, one module per part of the clinic's work, all under ``/api/v1``."""
