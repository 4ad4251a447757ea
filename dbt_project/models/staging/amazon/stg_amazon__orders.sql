{{ config(unique_key=['connection_name', 'amazon_order_id']) }}
-- The buyer e-mail is kept from the newest row that has one: rows from the flat-file orders
-- reports (history in bulk) and Pending orders carry none.

with source as (
    {{ lake_source('amazon', 'orders') }}
),

renamed as (
    select
        {{ lake_columns() }},
        amazon_order_id,
        marketplace_id,
        purchased_at,
        last_updated_at,
        order_status,
        fulfillment_channel,
        sales_channel,
        order_type,
        order_total_amount,
        order_total_currency,
        number_of_items_shipped,
        number_of_items_unshipped,
        is_prime,
        is_business_order,
        buyer_email,
        ship_country,
        earliest_ship_at,
        latest_ship_at
    from source
),

latest as (
    select
        * replace (
            last_value(buyer_email ignore nulls) over (
                partition by connection_name, amazon_order_id
                order by last_updated_at, extracted_at
                rows between unbounded preceding and unbounded following
            ) as buyer_email
        )
    from renamed
    {{ keep_latest(['amazon_order_id'], 'last_updated_at') }}
)

{% if is_incremental() %}
select latest.* replace (coalesce(latest.buyer_email, loaded.buyer_email) as buyer_email)
from latest
left join {{ this }} as loaded
    on latest.connection_name = loaded.connection_name
    and latest.amazon_order_id = loaded.amazon_order_id
{% else %}
select * from latest
{% endif %}
