{{ config(meta={'dagster': {'ref': {'name': 'int_order_lines_joined_to_fx'}}}) }}
-- An amount without an exchange rate to the base currency is an error, never a silent 1.0.
-- A row here names a currency and UTC day the rates (dim_fx_rates) do not cover: add the
-- currency to the rate file, or check that the ECB feed is being fetched.
select
    currency,
    cast(ordered_at as date) as rate_date_needed,
    count(*) as order_lines
from {{ ref('int_order_lines_joined_to_fx') }}
where fx_rate_to_base is null
group by all
