"""Tests of bot/ pieces, mostly on their own; a few files also run the bot over the fake Discord."""
