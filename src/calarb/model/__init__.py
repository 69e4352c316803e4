"""calarb.model"""
