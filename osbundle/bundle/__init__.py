"""The read side: read a bundle once and safely, check its own claims, verify, inspect, unpack."""
