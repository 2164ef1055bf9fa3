"""Stream processors. Thin: decode, call the pure model in tables/, write the table, emit."""
