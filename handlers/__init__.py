"""The conversation core: inbound values in, reply values out. Knows no messenger library."""
