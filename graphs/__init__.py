"""rayswarm.graphs"""
