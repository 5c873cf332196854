"""Writes of the marketdata app (HackSoft services): one module per concern."""
