"""rayswarm.swarms"""
