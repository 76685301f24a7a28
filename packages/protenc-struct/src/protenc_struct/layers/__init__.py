"""Message-passing layers: GearNet's relational convolution, GVP, continuous-discrete convolution."""
