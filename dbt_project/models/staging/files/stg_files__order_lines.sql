{{ config(unique_key=['connection_name', 'order_id', 'line_id']) }}

-- Order lines of the file channels (one inbox folder orders/<channel>/ each), the latest
-- version of each line: the one of the latest import (ties: the later archived file, then
-- the later row). Exports carry no refund dates, so refund_recorded_at is derived from the
-- versions: when the line first showed its current refunded amount (the export's
-- updated_at of that version, else its import time); a re-import of the same export does not
-- move it. An incremental run reads the recent imports only: the version already loaded
-- stands for the older ones.
with source as (
    {{ lake_source('files', 'order_lines') }}
),

renamed as (
    select
        {{ lake_columns() }},
        order_id,
        line_id,
        customer_id,
        customer_email,
        ordered_at,
        updated_at,
        order_status,
        is_cancelled,
        sku,
        product_name,
        gtin,
        channel_item_id,
        quantity,
        unit_price,
        gross_amount,
        discount_amount,
        shipping_amount,
        tax_amount,
        refunded_amount,
        upper(currency) as currency,
        storefront_id,
        fulfillment_type,
        shipped_at,
        source_format,
        _source_file as source_file,
        cast(_source_row as bigint) as source_row
    from source
),

versions as (
    -- every version of a line read, with when it says its refunded amount was known
    select connection_name, order_id, line_id, extracted_at, refunded_amount,
        coalesce(updated_at, extracted_at) as known_at
    from renamed
    {% if is_incremental() %}
    union all
    select loaded.connection_name, loaded.order_id, loaded.line_id, loaded.extracted_at,
        loaded.refunded_amount, loaded.refund_recorded_at as known_at
    from {{ this }} as loaded
    where exists (
        select 1 from renamed
        where renamed.connection_name = loaded.connection_name
            and renamed.order_id = loaded.order_id
            and renamed.line_id = loaded.line_id
    )
    {% endif %}
),

latest_amounts as (
    select *,
        first_value(refunded_amount) over (
            partition by connection_name, order_id, line_id order by extracted_at desc
        ) as latest_refunded_amount
    from versions
),

refund_runs as (
    -- the versions since the refunded amount last changed: the refund was recorded at the first
    select
        connection_name,
        order_id,
        line_id,
        max(extracted_at) filter (where refunded_amount is distinct from latest_refunded_amount)
            as changed_before_at
    from latest_amounts
    group by all
),

refund_recorded as (
    select
        latest_amounts.connection_name,
        latest_amounts.order_id,
        latest_amounts.line_id,
        min(latest_amounts.known_at) as refund_recorded_at
    from latest_amounts
    inner join refund_runs using (connection_name, order_id, line_id)
    where latest_amounts.latest_refunded_amount > 0
        and (refund_runs.changed_before_at is null
            or latest_amounts.extracted_at > refund_runs.changed_before_at)
    group by all
),

latest as (
    select * from renamed
    qualify row_number() over (
        partition by connection_name, order_id, line_id
        order by extracted_at desc, source_file desc, source_row desc
    ) = 1
)

select
    -- the key int_order_lines_unioned gives the line: <connection>:<order id>:<line id>
    latest.connection_name || ':' || latest.order_id || ':' || latest.line_id as order_line_id,
    latest.*,
    case when latest.refunded_amount > 0 then
        coalesce(refund_recorded.refund_recorded_at, latest.updated_at, latest.extracted_at)
    end as refund_recorded_at
from latest
left join refund_recorded using (connection_name, order_id, line_id)
