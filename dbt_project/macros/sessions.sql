{#
  Storefront-event helpers shared by the clickstream models (int_events_sessionized,
  sessions, funnel_daily, cart_abandonment).
#}

{# How far down the purchase funnel an event's step is: 0 for page views and other events,
   1 product_view, 2 add_to_cart, 3 checkout, 4 purchase. A session's funnel depth is the
   largest of its events'. #}
{% macro funnel_depth(step) -%}
    case {{ step }}
        when 'product_view' then 1
        when 'add_to_cart' then 2
        when 'checkout' then 3
        when 'purchase' then 4
        else 0
    end
{%- endmacro %}

{# A cart removal: the funnel map has no step for it, so it is recognized by the raw event
   name: "remove" next to cart / product / item in either order (GA4 remove_from_cart,
   Shopify product_removed_from_cart, Segment "Product Removed", cart_remove). #}
{% macro is_cart_removal(event_name) -%}
    regexp_matches(
        lower({{ event_name }}),
        'remove.*(cart|product|item)|(cart|product|item).*remove'
    )
{%- endmacro %}
