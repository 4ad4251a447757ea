"""The Shopify Admin GraphQL emulator's parts; ``sandbox.shopify_api.create_blueprint`` puts them together."""
