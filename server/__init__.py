"""Canopy: green energy for verified low-carbon actions, grown into real trees."""
