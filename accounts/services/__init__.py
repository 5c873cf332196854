"""Writes of the accounts app's trading side: trading accounts, order updates, positions, broker sync."""
