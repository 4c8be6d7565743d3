"""The ML runtime of the workers (torch lives here and in training/, never in web code)."""
