"""DRF APIs of the marketdata app, one module per concern (calendar, udf, ...)."""
