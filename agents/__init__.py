"""rayswarm.agents: one model + tokenizer as an Agent; model sources; weights as a vector; the toy world.

Import from the modules (`from rayswarm.agents.agent import Agent`): this package file stays empty so
that importing `rayswarm.agents.sources` or the toy world's data code never pulls in torch.
"""
