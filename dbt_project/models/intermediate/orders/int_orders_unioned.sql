-- One row per order header of every channel, with what each channel says about its state
-- (normalized in int_orders_status_normalized) and the order-level amounts some channels
-- only report per order (Shopify shipping and tax). File channels (inbox orders/<channel>/)
-- export lines only: their header is made from the order's lines (latest versions), its
-- state from the files' flags: cancelled when every line is cancelled, else shipped when a
-- line has shipped_at, else open (the refund states follow from the refunded amounts).
with
amazon_orders as (
    select
        'amazon' as channel,
        o.connection_name,
        o.marketplace_id as storefront_id,
        o.amazon_order_id as channel_order_id,
        o.purchased_at as ordered_at,
        o.last_updated_at as order_updated_at,
        o.order_status as channel_status,
        o.order_status as fulfillment_status_raw,
        case o.fulfillment_channel when 'AFN' then 'FBA' when 'MFN' then 'FBM' end
            as fulfillment_type,
        coalesce(o.order_total_currency, m.default_currency) as currency,
        cast(null as decimal(18, 4)) as order_shipping_amount,
        cast(null as decimal(18, 4)) as order_tax_amount,
        o.buyer_email as customer_email,
        cast(null as varchar) as channel_customer_id,
        o.ship_country,
        'api' as source_format
    from {{ ref('stg_amazon__orders') }} as o
    left join {{ ref('amazon_marketplaces') }} as m on o.marketplace_id = m.marketplace_id
),

shopify_orders as (
    select
        'shopify' as channel,
        connection_name,
        connection_name as storefront_id,
        shopify_order_id as channel_order_id,
        created_at as ordered_at,
        updated_at as order_updated_at,
        case
            when cancelled_at is not null then 'CANCELLED'
            else financial_status
        end as channel_status,
        fulfillment_status as fulfillment_status_raw,
        'merchant' as fulfillment_type,
        currency,
        coalesce(total_shipping, 0) as order_shipping_amount,
        coalesce(total_tax, 0) as order_tax_amount,
        customer_email,
        shopify_customer_id as channel_customer_id,
        ship_country,
        billing_country,
        -- the street, postal code and country: what a reshipping drop has in common
        case when ship_address1 is not null then
            regexp_replace(lower(trim(ship_address1)), '\s+', ' ', 'g') || '|'
            || upper(replace(coalesce(ship_postal_code, ''), ' ', '')) || '|' || ship_country
        end as ship_address_key,
        'api' as source_format
    from {{ ref('stg_shopify__orders') }}
),

walmart_line_states as (
    select
        connection_name,
        walmart_purchase_order_id,
        -- the order is as far as its furthest line; a refunded line was delivered first
        case
            when bool_and(line_status = 'Cancelled') then 'Cancelled'
            when bool_or(line_status in ('Delivered', 'Refund')) then 'Delivered'
            when bool_or(line_status = 'Shipped') then 'Shipped'
            when bool_or(line_status = 'Acknowledged') then 'Acknowledged'
            when bool_or(line_status = 'Created') then 'Created'
            else string_agg(distinct line_status, ',')
        end as order_status
    from {{ ref('stg_walmart__order_lines') }}
    group by all
),

walmart_orders as (
    select
        'walmart' as channel,
        o.connection_name,
        o.connection_name as storefront_id,
        o.walmart_purchase_order_id as channel_order_id,
        o.ordered_at,
        o.last_modified_at as order_updated_at,
        s.order_status as channel_status,
        s.order_status as fulfillment_status_raw,
        case when o.ship_node_type = 'WFSFulfilled' then 'WFS' else 'merchant' end
            as fulfillment_type,
        o.currency,
        cast(null as decimal(18, 4)) as order_shipping_amount,
        cast(null as decimal(18, 4)) as order_tax_amount,
        o.customer_email,
        cast(null as varchar) as channel_customer_id,
        o.ship_to_country as ship_country,
        'api' as source_format
    from {{ ref('stg_walmart__orders') }} as o
    left join walmart_line_states as s
        on o.connection_name = s.connection_name
        and o.walmart_purchase_order_id = s.walmart_purchase_order_id
),

files_orders as (
    select
        connection_name as channel,
        connection_name,
        min(storefront_id) as storefront_id,
        order_id as channel_order_id,
        min(ordered_at) as ordered_at,
        -- the latest import of the order (as its lines' order_updated_at)
        max(extracted_at) as order_updated_at,
        string_agg(distinct order_status, ',' order by order_status) as channel_status,
        case
            when bool_and(is_cancelled) then 'cancelled'
            when bool_or(shipped_at is not null) then 'shipped'
            else 'open'
        end as fulfillment_status_raw,
        min(fulfillment_type) as fulfillment_type,
        min(currency) as currency,
        cast(null as decimal(18, 4)) as order_shipping_amount,
        cast(null as decimal(18, 4)) as order_tax_amount,
        min(customer_email) as customer_email,
        min(customer_id) as channel_customer_id,
        min(source_format) as source_format
    from {{ ref('stg_files__order_lines') }}
    group by connection_name, order_id
),

unioned as (
    {{ union_channels('_orders', with_files=true) }}
)

select
    connection_name || ':' || channel_order_id as order_id,
    * exclude (customer_email, ship_address_key),
    -- e-mails and street addresses leave the lake only as salted hashes
    -- (plugins/channelhouse_hashing.py)
    channelhouse_email_hash(customer_email) as customer_email_hash,
    channelhouse_email_hash(ship_address_key) as ship_address_hash
from unioned
