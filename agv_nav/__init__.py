"""agv_nav"""
