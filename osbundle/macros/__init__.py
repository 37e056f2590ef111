"""Appliance-style macros: their grammar, the values they name, rendering them per format."""
