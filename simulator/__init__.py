"""The hospital simulator: synthetic studies and a C-STORE sender, both free of Django."""
