"""Structure encoders honouring protstack's encoder contract."""
