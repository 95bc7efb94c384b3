"""rayswarm.clusters"""
