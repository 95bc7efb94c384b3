"""rayswarm.agents"""
