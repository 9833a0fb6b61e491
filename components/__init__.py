"""One ComponentResource per concern; `platform.Platform` wires them together."""
