"""rayswarm"""
