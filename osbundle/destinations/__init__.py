"""Where a finished bundle goes: one protocol, one module per kind of place."""
