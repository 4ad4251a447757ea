{{ config(unique_key=['connection_name', 'event_id']) }}

-- Storefront events (clickstream) imported from the inbox (events/<source>/), one row per
-- event. An event re-imported in a later file (an overlapping export) keeps its latest
-- import; within one import the last row of the file wins.
with source as (
    {{ lake_source('files', 'events') }}
),

renamed as (
    select
        {{ lake_columns() }},
        event_id,
        channel,
        storefront_id,
        anonymous_id,
        user_id,
        session_id as source_session_id,
        event_name,
        funnel_step,
        occurred_at,
        sku,
        quantity,
        value,
        upper(currency) as currency,
        order_id as channel_order_id,
        page_url,
        scroll_depth,
        referrer,
        traffic_source,
        experiment_id,
        variant as experiment_variant,
        experiment_unit,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
qualify row_number() over (
    partition by connection_name, event_id
    order by extracted_at desc, source_file desc, source_row desc
) = 1
