"""The Amazon SP-API emulator's parts; ``sandbox.amazon_api.create_blueprint`` puts them together."""
