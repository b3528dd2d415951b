"""crane_control"""
