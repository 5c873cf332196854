"""DRF APIs of the options app."""
