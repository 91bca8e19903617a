"""`make bench`: one run on one machine, one table (see bench/main.py)."""
