-- The storefront visitor id of every channel customer ('user:<channel customer id>', as
-- int_events_sessionized names identified visitors) and the unified customer it belongs to.
-- Ephemeral: a lookup the event marts join, not worth a table of its own.
{{ config(materialized='ephemeral') }}
select
    channel,
    'user:' || channel_customer_id as visitor_id,
    min(customer_id) as customer_id
from {{ ref('dim_customers') }}
where channel_customer_id is not null
group by channel, channel_customer_id
