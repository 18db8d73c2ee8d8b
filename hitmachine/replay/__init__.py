"""Replays of historical hit/no-hit tests against synthetic data."""
