"""rayswarm.actors"""
