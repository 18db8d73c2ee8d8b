"""Tests of the synthetic replay data."""
