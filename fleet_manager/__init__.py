"""fleet_manager"""
