"""The Walmart Marketplace emulator's parts; ``sandbox.walmart_api.create_blueprint`` puts them together."""
