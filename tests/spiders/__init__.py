"""Tests of the collection layer: page objects, the replay server and real crawls over loopback."""
