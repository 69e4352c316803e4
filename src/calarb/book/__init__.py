"""calarb.book"""
